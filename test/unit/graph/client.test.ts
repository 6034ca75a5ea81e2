/** The client's pure part: settings per cloud. */
import { describe, expect, it } from 'vitest';
import { NATIONAL_CLOUDS, resolveGraphEndpoints } from '../../../shared/auth/index.js';
import { ConfigError } from '../../../shared/errors.js';
import { graphClientSettings } from '../../../shared/graph/index.js';

describe('graphClientSettings', () => {
  it.each([
    ['global', 'https://graph.microsoft.com/.default'],
    ['usgov', 'https://graph.microsoft.us/.default'],
    ['usgovdod', 'https://dod-graph.microsoft.us/.default'],
    ['china', 'https://microsoftgraph.chinacloudapi.cn/.default'],
  ])('asks for <graph>/.default in the %s cloud', (cloud, scope) => {
    const settings = graphClientSettings(resolveGraphEndpoints({ cloud }).graphEndpoint);
    expect(settings.scope).toBe(scope);
    expect(settings.graphEndpoint).toBe(NATIONAL_CLOUDS[cloud as keyof typeof NATIONAL_CLOUDS].graphEndpoint);
  });

  it('lets the SDK send the token to a simulator host (hostname only, no port)', () => {
    expect(graphClientSettings('https://127.0.0.1:8443/')).toEqual({
      graphEndpoint: 'https://127.0.0.1:8443',
      scope: 'https://127.0.0.1:8443/.default',
      customHosts: ['127.0.0.1'],
    });
  });

  it('refuses http and version segments', () => {
    expect(() => graphClientSettings('http://127.0.0.1:8080')).toThrow(ConfigError);
    expect(() => graphClientSettings('https://graph.microsoft.com/v1.0')).toThrow(
      /without a version segment/,
    );
  });
});
