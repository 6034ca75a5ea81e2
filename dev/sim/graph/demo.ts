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
