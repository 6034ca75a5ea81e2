/** The simulated directory: tenants, app registrations, users, their Inbox and messages. */
import { X509Certificate, createHash, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { certificateThumbprints } from './certs.js';

export interface RegisteredCertificate {
  /** base64url SHA-1 / SHA-256 of the DER certificate, as in a JWT `x5t` / `x5t#S256` header. */
  x5t: string;
  x5tS256: string;
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
}

export interface App {
  clientId: string;
  tenantId: string;
  displayName: string;
  /** The service principal's object id in this tenant (`oid` / `sub` of its tokens, `creatorId`). */
  servicePrincipalId: string;
  /** SHA-256 of each secret: compared in constant time, never kept in clear. */
  secretHashes: Buffer[];
  certificates: RegisteredCertificate[];
  roles: string[];
}

export interface MessageInput {
  subject?: string;
  from?: { name: string; address: string };
  bodyPreview?: string;
  importance?: 'low' | 'normal' | 'high';
  hasAttachments?: boolean;
  isRead?: boolean;
  /** Default: now. */
  receivedDateTime?: string;
}

export interface StoredMessage {
  id: string;
  /** Per-mailbox order of arrival; delta watermarks are expressed in it. */
  seq: number;
  changeKey: string;
  subject: string;
  from: { name: string; address: string };
  bodyPreview: string;
  importance: 'low' | 'normal' | 'high';
  hasAttachments: boolean;
  isRead: boolean;
  receivedDateTime: string;
  internetMessageId: string;
  conversationId: string;
}

/**
 * Where the user's mailbox lives. Graph rule: only Exchange Online mailboxes are served by the mail
 * and subscription APIs; a hybrid user whose mailbox is on an Exchange server ('onPremises') and a
 * user without a mailbox (no Exchange Online licence: 'none') both answer 404
 * MailboxNotEnabledForRESTAPI. The directory object tells them apart: `onPremisesSyncEnabled`
 * is true for the hybrid user, `assignedLicenses` is empty for the unlicensed one.
 */
export type MailboxLocation = 'exchangeOnline' | 'onPremises' | 'none';

/** Per-user states the control plane must handle; every flag defaults to a healthy mailbox. */
export interface UserFlags {
  displayName?: string;
  accountEnabled?: boolean;
  mailbox?: MailboxLocation;
  /** Outside the tenant's application access policy (Exchange `New-ApplicationAccessPolicy`
   * RestrictAccess): mail routes answer 403 ErrorAccessDenied "Access to OData is disabled". The
   * simulated policy applies to every app of the tenant. */
  outsideAccessPolicy?: boolean;
}

export interface User {
  id: string;
  tenantId: string;
  mail: string;
  /** Equal to `mail` (the usual Exchange Online setup; lookups accept either). */
  userPrincipalName: string;
  displayName: string;
  accountEnabled: boolean;
  mailbox: MailboxLocation;
  outsideAccessPolicy: boolean;
  inboxFolderId: string;
  messages: StoredMessage[];
  nextSeq: number;
  /** Bumped by expireDeltaTokens: delta/skip tokens of older generations answer 410. */
  deltaGeneration: number;
}

export interface Group {
  id: string;
  tenantId: string;
  displayName: string;
  description: string | null;
  /** Member user ids in the order they were added. */
  members: Set<string>;
}

export interface Tenant {
  id: string;
  domains: string[];
  apps: Map<string, App>;
  users: Map<string, User>;
  /** Users by lower-cased mail / UPN. */
  usersByMail: Map<string, User>;
  groups: Map<string, Group>;
}

/** The application permissions a new app is granted (admin consent) unless told otherwise. */
export const DEFAULT_APP_ROLES = ['Mail.Read', 'User.Read.All', 'GroupMember.Read.All', 'Mail.Send'];

const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** An Exchange-looking item id: base64url of a recognisable prefix and random bytes, '=' padded. */
export function outlookId(kind: 'message' | 'folder', seed?: string): string {
  const prefix = Buffer.from(kind === 'message' ? 'AAMkAGI2THVSAAA' : 'AAMkAGI2AAAuAAA', 'base64');
  const body = seed ? createHash('sha256').update(seed).digest() : randomBytes(32);
  return `${Buffer.concat([prefix, body]).toString('base64url')}=`;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class Directory {
  readonly tenants = new Map<string, Tenant>();

  addTenant(t: { tenantId: string; domains?: string[] }): Tenant {
    if (!GUID.test(t.tenantId)) throw new Error(`addTenant: tenantId must be a GUID, got '${t.tenantId}'`);
    const id = t.tenantId.toLowerCase();
    const existing = this.tenants.get(id);
    const domains = (t.domains ?? []).map((d) => d.toLowerCase());
    if (existing) {
      for (const d of domains) if (!existing.domains.includes(d)) existing.domains.push(d);
      return existing;
    }
    const tenant: Tenant = {
      id,
      domains,
      apps: new Map(),
      users: new Map(),
      usersByMail: new Map(),
      groups: new Map(),
    };
    this.tenants.set(id, tenant);
    return tenant;
  }

  /** By tenant id or one of its domains (case-insensitive), as Entra resolves the authority path. */
  findTenant(idOrDomain: string): Tenant | undefined {
    const key = idOrDomain.toLowerCase();
    const byId = this.tenants.get(key);
    if (byId) return byId;
    for (const tenant of this.tenants.values()) if (tenant.domains.includes(key)) return tenant;
    return undefined;
  }

  requireTenant(tenantId: string): Tenant {
    const tenant = this.findTenant(tenantId);
    if (!tenant) throw new Error(`unknown tenant '${tenantId}': addTenant first`);
    return tenant;
  }

  /**
   * Deletes every client secret of the app (an admin removed them in Certificates & secrets): a
   * sign-in with any of them then fails with AADSTS7000215, as Entra ID answers.
   */
  removeApplicationSecrets(tenantId: string, clientId: string): void {
    const app = this.requireTenant(tenantId).apps.get(clientId.toLowerCase());
    if (!app) throw new Error(`removeApplicationSecrets: unknown app '${clientId}'`);
    app.secretHashes = [];
  }

  /** Registers an app (calling again for the same clientId adds credentials: rotation). */
  addApplication(
    tenantId: string,
    app: {
      clientId: string;
      secret?: string;
      certificatePem?: string;
      displayName?: string;
      roles?: string[];
    },
  ): App {
    const tenant = this.requireTenant(tenantId);
    if (!GUID.test(app.clientId))
      throw new Error(`addApplication: clientId must be a GUID, got '${app.clientId}'`);
    const clientId = app.clientId.toLowerCase();
    let registered = tenant.apps.get(clientId);
    if (!registered) {
      registered = {
        clientId,
        tenantId: tenant.id,
        displayName: app.displayName ?? 'Mail push (simulated)',
        servicePrincipalId: randomUUID(),
        secretHashes: [],
        certificates: [],
        roles: [...(app.roles ?? DEFAULT_APP_ROLES)],
      };
      tenant.apps.set(clientId, registered);
    } else if (app.roles) {
      registered.roles = [...app.roles];
    }
    if (app.secret !== undefined) registered.secretHashes.push(sha256(app.secret));
    if (app.certificatePem !== undefined) {
      const x509 = new X509Certificate(app.certificatePem);
      const { sha1, sha256: s256 } = certificateThumbprints(app.certificatePem);
      registered.certificates.push({
        x5t: sha1.toString('base64url'),
        x5tS256: s256.toString('base64url'),
        publicKey: x509.publicKey,
        notBefore: new Date(x509.validFrom),
        notAfter: new Date(x509.validTo),
      });
    }
    return registered;
  }

  addUser(tenantId: string, u: { id: string; mail: string } & UserFlags): User {
    const tenant = this.requireTenant(tenantId);
    if (!GUID.test(u.id)) throw new Error(`addUser: id must be a GUID, got '${u.id}'`);
    const id = u.id.toLowerCase();
    const mail = u.mail.toLowerCase();
    if (!/^[^@\s]+@[^@\s]+$/.test(mail)) throw new Error(`addUser: mail must be an address, got '${u.mail}'`);
    for (const t of this.tenants.values()) {
      if (t.users.has(id)) throw new Error(`addUser: user id ${id} already exists`);
      if (t.usersByMail.has(mail)) throw new Error(`addUser: mail ${mail} already exists`);
    }
    const user: User = {
      id,
      tenantId: tenant.id,
      mail,
      userPrincipalName: mail,
      displayName: u.displayName ?? mail.split('@')[0] ?? mail,
      accountEnabled: u.accountEnabled ?? true,
      mailbox: u.mailbox ?? 'exchangeOnline',
      outsideAccessPolicy: u.outsideAccessPolicy ?? false,
      inboxFolderId: outlookId('folder', `${id}/inbox`),
      messages: [],
      nextSeq: 1,
      deltaGeneration: 1,
    };
    tenant.users.set(id, user);
    tenant.usersByMail.set(mail, user);
    return user;
  }

  /** Changes a user's state (mailbox location, access policy, account, name) in place. */
  setUserFlags(user: User, flags: UserFlags): void {
    if (flags.displayName !== undefined) user.displayName = flags.displayName;
    if (flags.accountEnabled !== undefined) user.accountEnabled = flags.accountEnabled;
    if (flags.mailbox !== undefined) user.mailbox = flags.mailbox;
    if (flags.outsideAccessPolicy !== undefined) user.outsideAccessPolicy = flags.outsideAccessPolicy;
  }

  /** A user of `tenantId` by id or mail / UPN (Graph accepts both in `/users/{id|userPrincipalName}`). */
  findUser(tenantId: string, idOrMail: string): User | undefined {
    const tenant = this.tenants.get(tenantId.toLowerCase());
    if (!tenant) return undefined;
    const key = idOrMail.toLowerCase();
    return tenant.users.get(key) ?? tenant.usersByMail.get(key);
  }

  /** Any tenant's user by id or mail (ids and mails are unique across the simulator). */
  findUserAnywhere(idOrMail: string): User | undefined {
    for (const tenant of this.tenants.values()) {
      const user = this.findUser(tenant.id, idOrMail);
      if (user) return user;
    }
    return undefined;
  }

  addGroup(
    tenantId: string,
    g: { id?: string; displayName: string; description?: string; members?: string[] },
  ): Group {
    const tenant = this.requireTenant(tenantId);
    const id = (g.id ?? randomUUID()).toLowerCase();
    if (!GUID.test(id)) throw new Error(`addGroup: id must be a GUID, got '${g.id}'`);
    for (const t of this.tenants.values())
      if (t.groups.has(id)) throw new Error(`addGroup: group id ${id} already exists`);
    // Resolve members first: a bad member list must not leave a half-made group behind.
    const members = (g.members ?? []).map((m) => this.requireMember(tenant.id, m));
    const group: Group = {
      id,
      tenantId: tenant.id,
      displayName: g.displayName,
      description: g.description ?? null,
      members: new Set(),
    };
    for (const user of members) group.members.add(user.id);
    tenant.groups.set(id, group);
    return group;
  }

  findGroupAnywhere(id: string): Group | undefined {
    for (const tenant of this.tenants.values()) {
      const group = tenant.groups.get(id.toLowerCase());
      if (group) return group;
    }
    return undefined;
  }

  /** Adds members by user id or mail (users of the group's tenant); unknown users throw, nothing added. */
  addGroupMembers(group: Group, members: string[]): void {
    const users = members.map((m) => this.requireMember(group.tenantId, m));
    for (const user of users) group.members.add(user.id);
  }

  private requireMember(tenantId: string, idOrMail: string): User {
    const user = this.findUser(tenantId, idOrMail);
    if (!user) throw new Error(`unknown user '${idOrMail}' in tenant ${tenantId}`);
    return user;
  }

  removeGroupMembers(group: Group, members: string[]): void {
    for (const m of members) {
      const user = this.findUser(group.tenantId, m);
      group.members.delete(user?.id ?? m.toLowerCase());
    }
  }

  storeMessage(user: User, m: MessageInput = {}): StoredMessage {
    const id = outlookId('message');
    const seq = user.nextSeq++;
    const message: StoredMessage = {
      id,
      seq,
      changeKey: randomBytes(12).toString('base64'),
      subject: m.subject ?? `Test message ${seq}`,
      from: m.from ?? { name: 'Simulated Sender', address: 'sender@fabrikam.example' },
      bodyPreview: m.bodyPreview ?? 'This message was delivered by the Graph simulator.',
      importance: m.importance ?? 'normal',
      hasAttachments: m.hasAttachments ?? false,
      isRead: m.isRead ?? false,
      receivedDateTime: normaliseDate(m.receivedDateTime ?? new Date().toISOString()),
      internetMessageId: `<${randomUUID()}@graph-sim.local>`,
      conversationId: outlookId('message'),
    };
    user.messages.push(message);
    return message;
  }
}

/** Graph renders message dates without fractional seconds: 2024-05-01T10:00:00Z. */
export function normaliseDate(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) throw new Error(`not a date: ${iso}`);
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export const MESSAGE_PROPERTIES = [
  'id',
  'createdDateTime',
  'lastModifiedDateTime',
  'changeKey',
  'categories',
  'receivedDateTime',
  'sentDateTime',
  'hasAttachments',
  'internetMessageId',
  'subject',
  'bodyPreview',
  'importance',
  'parentFolderId',
  'conversationId',
  'isDeliveryReceiptRequested',
  'isReadReceiptRequested',
  'isRead',
  'isDraft',
  'webLink',
  'inferenceClassification',
  'body',
  'sender',
  'from',
  'toRecipients',
  'ccRecipients',
  'bccRecipients',
  'replyTo',
  'flag',
] as const;

/** The full Graph representation of a message (what GET returns without $select). */
export function messageResource(user: User, m: StoredMessage): Record<string, unknown> {
  const address = (name: string, addr: string) => ({ emailAddress: { name, address: addr } });
  const full: Record<string, unknown> = {
    '@odata.etag': `W/"${m.changeKey}"`,
    id: m.id,
    createdDateTime: m.receivedDateTime,
    lastModifiedDateTime: m.receivedDateTime,
    changeKey: m.changeKey,
    categories: [],
    receivedDateTime: m.receivedDateTime,
    sentDateTime: m.receivedDateTime,
    hasAttachments: m.hasAttachments,
    internetMessageId: m.internetMessageId,
    subject: m.subject,
    bodyPreview: m.bodyPreview,
    importance: m.importance,
    parentFolderId: user.inboxFolderId,
    conversationId: m.conversationId,
    isDeliveryReceiptRequested: false,
    isReadReceiptRequested: false,
    isRead: m.isRead,
    isDraft: false,
    webLink: `https://outlook.office365.com/owa/?ItemID=${encodeURIComponent(m.id)}&exvsurl=1&viewmodel=ReadMessageItem`,
    inferenceClassification: 'focused',
    body: { contentType: 'text', content: m.bodyPreview },
    sender: address(m.from.name, m.from.address),
    from: address(m.from.name, m.from.address),
    toRecipients: [address(user.displayName, user.mail)],
    ccRecipients: [],
    bccRecipients: [],
    replyTo: [],
    flag: { flagStatus: 'notFlagged' },
  };
  return full;
}

/**
 * Applies `$select` (Graph rule: `id` and `@odata.etag` always come back; an unknown property is
 * a 400). Returns the property list error as a string.
 */
export function applySelect(
  resource: Record<string, unknown>,
  select: string | null,
  allowed: readonly string[],
  typeName: string,
): Record<string, unknown> | string {
  if (select === null || select.trim() === '') return resource;
  const wanted = select
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const out: Record<string, unknown> = {};
  if ('@odata.etag' in resource) out['@odata.etag'] = resource['@odata.etag'];
  out.id = resource.id;
  for (const name of wanted) {
    const match = allowed.find((a) => a.toLowerCase() === name.toLowerCase());
    if (!match) return `Could not find a property named '${name}' on type '${typeName}'.`;
    out[match] = resource[match];
  }
  return out;
}
