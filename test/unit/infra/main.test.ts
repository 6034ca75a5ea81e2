// infra/main.bicep and main.parameters.json: module wiring, parameters and outputs.
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  infraDir,
  isRecord,
  loadBicep,
  mainBicepPath,
  moduleGraph,
  modules,
  outputs,
  paramDecorators,
  params,
  readJson,
  repoRoot,
  resources,
} from '../../support/bicep/files.js';
import { existsSync } from 'node:fs';

const REQUIRED_OUTPUTS = [
  'AZURE_LOCATION',
  'AZURE_TENANT_ID',
  'AZURE_RESOURCE_GROUP',
  'AZURE_FUNCTION_APP_NAME',
  'AZURE_FUNCTION_URL',
  'PUBLIC_BASE_URL',
  'SERVICEBUS_NAMESPACE',
  'STORAGE_ACCOUNT_NAME',
  'KEY_VAULT_NAME',
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
] as const;

describe('infra/main.bicep wiring', () => {
  const main = loadBicep(mainBicepPath);
  const graph = moduleGraph();

  it('targets the subscription and creates the resource group rg-${environmentName}', () => {
    expect(main.lexed.code).toMatch(/^targetScope\s*=\s*'subscription'/m);
    const groups = resources(main, /^Microsoft\.Resources\/resourceGroups@/);
    expect(groups).toHaveLength(1);
    expect(groups[0]?.body).toMatch(/name:\s*'\$\{abbrs\.resourcesResourceGroups\}\$\{environmentName\}'/);
    const abbrs = readJson(join(infraDir, 'abbreviations.json'));
    expect(isRecord(abbrs) && abbrs['resourcesResourceGroups']).toBe('rg-');
  });

  it('references only local modules, and every one of them exists', () => {
    const refs = [...graph.values()].flatMap((file) =>
      modules(file).map((ref) => ({ from: relative(repoRoot, file.path), ...ref })),
    );
    expect(refs.length).toBeGreaterThanOrEqual(12);
    for (const ref of refs) {
      // Registry modules (br:, br/public:) would need network access to restore.
      expect(ref.resolved, `${ref.from}: module ${ref.symbol} '${ref.path}'`).toBeDefined();
      expect(existsSync(ref.resolved ?? ''), `${ref.from}: ${ref.path} does not exist`).toBe(true);
    }
    const paths = modules(main).map((ref) => ref.path);
    for (const module of ['rbac', 'graph-credential', 'alerts', 'workbook'])
      expect(paths).toContain(`./modules/${module}.bicep`);
  });

  it('passes every required module parameter, and only declared ones', () => {
    for (const file of graph.values()) {
      for (const ref of modules(file)) {
        const target = ref.resolved === undefined ? undefined : graph.get(ref.resolved);
        if (target === undefined) continue;
        const declared = params(target);
        const where = `${relative(repoRoot, file.path)} → module ${ref.symbol}`;
        for (const key of ref.paramKeys) {
          expect(
            declared.map((p) => p.name),
            `${where} passes undeclared param ${key}`,
          ).toContain(key);
        }
        for (const param of declared.filter((p) => !p.hasDefault)) {
          expect(ref.paramKeys, `${where} misses required param ${param.name}`).toContain(param.name);
        }
      }
    }
  });

  it('only reads outputs that the referenced modules declare', () => {
    for (const file of graph.values()) {
      const bySymbol = new Map(modules(file).map((ref) => [ref.symbol, ref]));
      for (const match of file.lexed.code.matchAll(/\b(\w+)\.outputs\.(\w+)/g)) {
        const [, symbol = '', output = ''] = match;
        const ref = bySymbol.get(symbol);
        expect(ref, `${relative(repoRoot, file.path)}: ${symbol} is not a module`).toBeDefined();
        const target = ref?.resolved === undefined ? undefined : graph.get(ref.resolved);
        expect(target && outputs(target), `${symbol}.outputs.${output}`).toContain(output);
      }
    }
  });

  it('names resources from abbreviations.json keys that exist', () => {
    const abbrs = readJson(join(infraDir, 'abbreviations.json'));
    expect(isRecord(abbrs)).toBe(true);
    const used = [...main.lexed.code.matchAll(/\babbrs\.(\w+)/g)].map((m) => m[1] ?? '');
    expect(used.length).toBeGreaterThan(5);
    for (const key of used)
      expect(isRecord(abbrs) ? abbrs[key] : undefined, `abbrs.${key}`).toBeTypeOf('string');
    expect(main.lexed.code).toMatch(/uniqueString\(subscription\(\)\.id,\s*environmentName,\s*location\)/);
  });

  it("passes resource names to modules from its own vars, never from other modules' outputs", () => {
    // What-If cannot predict a resource whose name is only known at run time.
    for (const ref of modules(main)) {
      for (const [key, value] of ref.paramValues) {
        if (!/Name$/.test(key)) continue;
        expect(value, `${ref.symbol}.${key}`).not.toMatch(/\.outputs\./);
      }
    }
  });

  it('emits the UPPER_SNAKE outputs azd and the local runner use', () => {
    const declared = outputs(main);
    for (const name of REQUIRED_OUTPUTS) expect(declared).toContain(name);
    for (const name of declared) expect(name).toMatch(/^[A-Z][A-Z0-9_]*$/);
  });

  it('offers only regions with Flex Consumption', () => {
    const decorators = paramDecorators(main, 'location');
    const allowed = [
      ...(/@allowed\(\[([^\]]*)\]\)/.exec(decorators)?.[1] ?? '').matchAll(/'([a-z0-9]+)'/g),
    ].map((m) => m[1]);
    expect(allowed.length).toBeGreaterThan(20);
    expect(allowed).toEqual(expect.arrayContaining(['westeurope', 'northeurope', 'eastus', 'swedencentral']));
    expect(allowed, 'a canary region is no place for production').not.toContain('eastus2euap');
  });

  it('gives the devices API a tenant GUID even when graphTenantId is a domain name', () => {
    const code = main.lexed.code;
    expect(code).toMatch(/^param deviceApiTenantId string = ''$/m);
    expect(code).toMatch(/var graphTenantIsGuid = length\(graphTenantId\) == 36/);
    expect(code).toMatch(/graphTenantIsGuid \? graphTenantId : tenant\(\)\.tenantId/);
    const api = modules(main).find((ref) => ref.symbol === 'api');
    expect(api?.paramValues.get('deviceApiTenantId')).toBe('effectiveDeviceApiTenantId');
  });

  it('keeps developer roles off unless asked for', () => {
    expect(main.lexed.code).toMatch(/^param developerRoles bool = false$/m);
    const rbac = modules(main).find((ref) => ref.symbol === 'rbac');
    expect(rbac?.paramValues.get('developerRoles')).toBe('developerRoles');
  });
});

describe('infra/main.parameters.json', () => {
  const main = loadBicep(mainBicepPath);
  const file = readJson(join(infraDir, 'main.parameters.json'));
  const supplied = isRecord(file) && isRecord(file['parameters']) ? file['parameters'] : {};

  it('supplies every main.bicep parameter that has no default', () => {
    const required = params(main).filter((p) => !p.hasDefault);
    expect(required.map((p) => p.name)).toEqual(
      expect.arrayContaining(['environmentName', 'location', 'graphTenantId', 'graphClientId']),
    );
    for (const param of required) expect(Object.keys(supplied), param.name).toContain(param.name);
  });

  it('supplies no parameter that main.bicep does not declare', () => {
    const declared = params(main).map((p) => p.name);
    for (const name of Object.keys(supplied)) expect(declared, name).toContain(name);
  });

  it('lets an operator set every scalar parameter from the azd environment', () => {
    // Every provision replaces all app settings: anything an operator may change must be a
    // parameter, reachable with `azd env set`.
    const arrays = params(main)
      .map((p) => p.name)
      .filter((name) => new RegExp(`^param ${name} string\\[\\]`, 'm').test(main.lexed.code));
    for (const param of params(main)) {
      if (arrays.includes(param.name)) continue;
      expect(Object.keys(supplied), `${param.name} is not in main.parameters.json`).toContain(param.name);
    }
  });

  it('takes its values from the azd environment, never literal secrets', () => {
    expect(supplied['environmentName']).toEqual({ value: '${AZURE_ENV_NAME}' });
    expect(supplied['location']).toEqual({ value: '${AZURE_LOCATION}' });
    expect(supplied['principalId']).toEqual({ value: '${AZURE_PRINCIPAL_ID}' });
    for (const [name, entry] of Object.entries(supplied)) {
      const value = isRecord(entry) ? entry['value'] : undefined;
      expect(value, name).toMatch(/^\$\{[A-Z][A-Z0-9_]*(=[^}]*)?\}$/);
    }
  });

  it('gives secure parameters no default in the parameters file either', () => {
    for (const name of [
      'graphClientSecret',
      'graphClientCertificate',
      'graphClientCertificatePassword',
      'pushWebhookSecret',
      'apnsToken',
      'fcmPrivateKey',
    ]) {
      const entry = supplied[name];
      const value = isRecord(entry) ? entry['value'] : undefined;
      expect(value, name).toMatch(/^\$\{[A-Z][A-Z0-9_]*\}$/);
    }
  });
});
