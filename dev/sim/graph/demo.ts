import { createHash } from 'node:crypto';

/**
 * The demo tenant `startGraphSimulator({ seed: true })` creates: fixed ids so the README, the
 * local runner and requests.http can cite them. Local-only values; none of them is a secret.
 */
export const DEMO_TENANT = {
  tenantId: '9188040d-6c67-4c5b-b112-36a304b66dad',
  domain: 'contoso.example',
  clientId: '6731de76-14a6-49ae-97bc-6eba6914391e',
  clientSecret: 'local-simulator-secret',
  users: [
    {
      id: '87d349ed-44d7-43e1-9a83-5f2406dee5bd',
      mail: 'adele.vance@contoso.example',
      displayName: 'Adele Vance',
    },
    {
      id: '6e7b768e-07e2-4810-8459-485f84f8f204',
      mail: 'alex.wilber@contoso.example',
      displayName: 'Alex Wilber',
    },
    {
      id: '48d31887-5fad-4d73-a9f5-3c356e68a038',
      mail: 'megan.bowen@contoso.example',
      displayName: 'Megan Bowen',
    },
    { id: '5bde3e51-d13b-4db1-9948-fe4b109d11a7', mail: 'lee.gu@contoso.example', displayName: 'Lee Gu' },
    {
      id: '4782e723-f4f4-4af3-a76e-25e3bab0d896',
      mail: 'nestor.wilke@contoso.example',
      displayName: 'Nestor Wilke',
    },
  ],
} as const;

/**
 * The users `startGraphSimulator({ seed: true, generatedUsers: N })` adds to DEMO_TENANT besides
 * the five above: index 1..N, `user0001@contoso.example` (UPN = mail), "Generated User 0001", a
 * stable GUID derived from the index. A deterministic share of them is in a state the control
 * plane must handle (the first matching rule wins):
 *
 * | index            | state                              | what Graph answers on mail routes              |
 * | ---------------- | ---------------------------------- | ---------------------------------------------- |
 * | multiple of 10   | mailbox on premises (hybrid)       | 404 MailboxNotEnabledForRESTAPI                |
 * | ends in 5 (%10)  | outside the application access policy | 403 ErrorAccessDenied "Access to OData is disabled: [RAOP] ..." |
 * | % 50 === 7       | no mailbox (no Exchange licence)   | 404 MailboxNotEnabledForRESTAPI (same as on-premises) |
 * | % 100 === 9      | account disabled (mailbox works)   | 200; `accountEnabled: false` on the user       |
 *
 * So of 200 users: 20 on premises, 20 outside the policy, 4 without a mailbox, 2 disabled, 154
 * healthy. On-premises and no-mailbox look the same on mail routes (Graph does not tell them
 * apart there); the user object does: `onPremisesSyncEnabled: true` for the hybrid user,
 * `assignedLicenses: []` for the unlicensed one.
 */
export interface GeneratedUser {
  index: number;
  id: string;
  mail: string;
  displayName: string;
  mailbox: 'exchangeOnline' | 'onPremises' | 'none';
  outsideAccessPolicy: boolean;
  accountEnabled: boolean;
}

export function generatedUser(index: number, total = 9999): GeneratedUser {
  if (!Number.isInteger(index) || index < 1)
    throw new Error(`generatedUser: index must be >= 1, got ${index}`);
  const digits = Math.max(4, String(total).length);
  const n = String(index).padStart(digits, '0');
  // A v4-shaped GUID that only depends on the index: stable across runs and processes.
  const hex = createHash('sha256').update(`graph-sim/generated-user/${index}`).digest('hex');
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  const onPremises = index % 10 === 0;
  const outsideAccessPolicy = !onPremises && index % 10 === 5;
  const noMailbox = !onPremises && !outsideAccessPolicy && index % 50 === 7;
  return {
    index,
    id,
    mail: `user${n}@${DEMO_TENANT.domain}`,
    displayName: `Generated User ${n}`,
    mailbox: onPremises ? 'onPremises' : noMailbox ? 'none' : 'exchangeOnline',
    outsideAccessPolicy,
    accountEnabled: !(!onPremises && !outsideAccessPolicy && !noMailbox && index % 100 === 9),
  };
}

/** All generated users 1..total, as `generatedUsers: total` creates them. */
export function generatedUsers(total: number): GeneratedUser[] {
  return Array.from({ length: total }, (_, i) => generatedUser(i + 1, total));
}
