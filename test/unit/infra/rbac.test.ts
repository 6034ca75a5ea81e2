// infra/modules/rbac.bicep: every role assignment, each a known role with a comment naming it.
import { relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  bicepFilesUnder,
  infraDir,
  loadBicep,
  mainBicepPath,
  modulePath,
  modules,
  repoRoot,
  resources,
} from '../../support/bicep/files.js';
import { matchingClose } from '../../support/bicep/lexer.js';

const rbacPath = modulePath('rbac');

/** Built-in Azure role definition IDs this deployment may use, with their display names. */
const KNOWN_ROLES: Readonly<Record<string, string>> = {
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': 'Storage Table Data Contributor',
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88': 'Storage Queue Data Contributor',
  '090c5cfd-751d-490a-894a-3ce6f1109419': 'Azure Service Bus Data Owner',
  '4633458b-17de-408a-b874-0445c86b69e6': 'Key Vault Secrets User',
  'b86a8fe4-44ce-4948-aee5-eccb2c155cd7': 'Key Vault Secrets Officer',
  '3913510d-42f4-4e42-8a64-420c390055eb': 'Monitoring Metrics Publisher',
};

const APP_IDENTITY_ROLES = [
  'Storage Blob Data Owner',
  'Storage Table Data Contributor',
  'Storage Queue Data Contributor',
  'Azure Service Bus Data Owner', // on the notification queue
  'Azure Service Bus Data Owner', // on the import queue
  'Key Vault Secrets User',
  'Monitoring Metrics Publisher',
];

const DEVELOPER_ROLES = [
  'Storage Blob Data Owner',
  'Storage Table Data Contributor',
  'Azure Service Bus Data Owner',
  'Key Vault Secrets Officer',
];

describe('infra/modules/rbac.bicep', () => {
  const rbac = loadBicep(rbacPath);
  const guidPattern = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

  const roleVar = /^var roles = \{/m.exec(rbac.lexed.code);
  const roleKeys = new Map<string, string>();
  if (roleVar !== null) {
    const open = roleVar.index + roleVar[0].length - 1;
    const block = rbac.lexed.code.slice(open, matchingClose(rbac.lexed.masked, open));
    for (const m of block.matchAll(/^\s*(\w+):\s*'([0-9a-f-]{36})'/gm)) roleKeys.set(m[1] ?? '', m[2] ?? '');
  }
  const assignments = resources(rbac, /^Microsoft\.Authorization\/roleAssignments@/);

  const roleOf = (body: string): string | undefined => {
    const key =
      /roleDefinitionId:\s*subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions',\s*roles\.(\w+)\)/.exec(
        body,
      )?.[1];
    const guid = key === undefined ? undefined : roleKeys.get(key);
    return guid === undefined ? undefined : KNOWN_ROLES[guid];
  };
  const principalOf = (body: string): string | undefined => /principalId:\s*(\w+)/.exec(body)?.[1];

  it('uses only known role GUIDs, each defined with a comment naming the role', () => {
    const guids = new Set([...rbac.src.matchAll(guidPattern)].map((m) => m[0].toLowerCase()));
    expect(guids.size).toBeGreaterThanOrEqual(7);
    for (const guid of guids) {
      const name = KNOWN_ROLES[guid];
      expect(name, `unknown role id ${guid}`).toBeDefined();
      // Where the GUID is used in code, the same line's comment names the role.
      const codeLines = rbac.src.split('\n').filter((line) => line.split('//')[0]?.includes(`'${guid}'`));
      expect(codeLines.length, guid).toBeGreaterThan(0);
      for (const line of codeLines) expect(line.slice(line.indexOf('//')), guid).toContain(`// ${name}`);
    }
  });

  it('every role assignment has a deterministic name, a known role and a comment naming it', () => {
    expect(assignments.length).toBeGreaterThanOrEqual(APP_IDENTITY_ROLES.length);
    for (const assignment of assignments) {
      const role = roleOf(assignment.body);
      expect(role, assignment.symbol).toBeDefined();
      expect(assignment.leadingComment, assignment.symbol).toContain(role ?? '?');
      expect(assignment.body, assignment.symbol).toMatch(/name:\s*guid\(/);
    }
  });

  it('gives the app identity exactly the roles it needs', () => {
    const appRoles = assignments
      .filter((a) => principalOf(a.body) === 'identityPrincipalId')
      .map((a) => roleOf(a.body));
    expect(appRoles.sort()).toEqual([...APP_IDENTITY_ROLES].sort());
    for (const a of assignments.filter((x) => principalOf(x.body) === 'identityPrincipalId')) {
      expect(a.conditional, a.symbol).toBe(false);
      expect(a.body).toMatch(/principalType:\s*'ServicePrincipal'/);
    }
  });

  it('gives the deploying principal the local-debugging roles, only when developerRoles is on and principalId set', () => {
    const dev = assignments.filter((a) => principalOf(a.body) === 'principalId');
    expect(dev.map((a) => roleOf(a.body))).toEqual(expect.arrayContaining(DEVELOPER_ROLES));
    for (const a of dev) {
      expect(a.conditional, a.symbol).toBe(true);
      expect(rbac.lexed.code).toMatch(new RegExp(`resource ${a.symbol} [^\n]*= if \\(assignPrincipal\\)`));
    }
    expect(rbac.lexed.code).toMatch(/^var assignPrincipal = developerRoles && !empty\(principalId\)$/m);
    expect(rbac.lexed.code).toMatch(/^param developerRoles bool = false$/m);
  });

  it("scopes the app's Service Bus rights to each of its queues (Data Owner, for target-based scaling)", () => {
    const owner = assignments.filter(
      (a) =>
        principalOf(a.body) === 'identityPrincipalId' && roleOf(a.body) === 'Azure Service Bus Data Owner',
    );
    const scopes = owner.map((a) => /^\s*scope:\s*(\S+)$/m.exec(a.body)?.[1]);
    expect(scopes.sort()).toEqual(['serviceBus::importQueue', 'serviceBus::notificationQueue']);
    for (const a of owner) {
      expect(a.leadingComment, a.symbol).toMatch(/090c5cfd-751d-490a-894a-3ce6f1109419/);
      expect(a.leadingComment, a.symbol).toMatch(/scal/);
    }
    // The existing queues are the ones main.bicep creates in servicebus.bicep.
    expect(rbac.lexed.code).toMatch(
      /resource notificationQueue 'queues' existing = \{\s*name: notificationQueueName\s*\}/,
    );
    expect(rbac.lexed.code).toMatch(
      /resource importQueue 'queues' existing = \{\s*name: importQueueName\s*\}/,
    );
    const ref = modules(loadBicep(mainBicepPath)).find((m) => m.symbol === 'rbac');
    expect(ref?.paramValues.get('notificationQueueName')).toBe('notificationQueueName');
    expect(ref?.paramValues.get('importQueueName')).toBe('importQueueName');
    for (const a of assignments.filter((x) => principalOf(x.body) === 'identityPrincipalId'))
      expect(a.body, a.symbol).not.toMatch(/scope:\s*serviceBus\s*$/m);
  });

  it("names assignments from the identity's resource ID, which is known before deployment", () => {
    for (const a of assignments.filter((x) => principalOf(x.body) === 'identityPrincipalId'))
      expect(a.body, a.symbol).toMatch(/name:\s*guid\(\w+(::\w+)?\.id, appIdentity\.id, roles\.\w+\)/);
  });

  it('is the only file with role assignments', () => {
    for (const path of bicepFilesUnder(infraDir)) {
      if (path === rbacPath) continue;
      expect(loadBicep(path).lexed.code, relative(repoRoot, path)).not.toContain(
        'Microsoft.Authorization/roleAssignments',
      );
    }
  });
});
