// azure.yaml: what azd deploys and where it finds the Bicep.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRecord, mainBicepPath, parseSimpleYaml, repoRoot } from '../../support/bicep/files.js';

describe('azure.yaml', () => {
  const yaml = parseSimpleYaml(readFileSync(join(repoRoot, 'azure.yaml'), 'utf8'));

  it('declares exactly one service, api, hosted on Azure Functions from the repo root', () => {
    const services = yaml['services'];
    expect(isRecord(services)).toBe(true);
    if (!isRecord(services)) return;
    expect(Object.keys(services)).toEqual(['api']);
    expect(services['api']).toMatchObject({ project: '.', language: 'ts', host: 'function' });
  });

  it('points azd at the Bicep in infra/', () => {
    const infra = yaml['infra'];
    if (isRecord(infra)) {
      expect(infra['provider'] ?? 'bicep').toBe('bicep');
      expect(infra['path'] ?? 'infra').toBe('infra');
      expect(infra['module'] ?? 'main').toBe('main');
    }
    expect(existsSync(mainBicepPath)).toBe(true);
  });
});
