// Reading the compiled ARM template (bicep build output): nested module deployments and their
// resources, whether the template uses resource arrays or (languageVersion 2.0) symbolic names.
import { isRecord } from './files.js';

export interface ArmResource {
  type: string;
  /** The resource's `name` as ARM sees it (often an expression). */
  name: string;
  body: Record<string, unknown>;
}

/** Resources of a template, arrays and symbolic-name objects alike. */
export function templateResources(template: unknown): ArmResource[] {
  if (!isRecord(template)) return [];
  const raw = template['resources'];
  const list = Array.isArray(raw) ? (raw as unknown[]) : isRecord(raw) ? Object.values(raw) : [];
  return list.filter(isRecord).map((body) => ({
    type: typeof body['type'] === 'string' ? body['type'] : '',
    name: typeof body['name'] === 'string' ? body['name'] : '',
    body,
  }));
}

/** The template of main.bicep's module deployment `name` (the module's `name:`). */
export function moduleTemplate(main: unknown, name: string): unknown {
  const deployment = templateResources(main).find(
    (r) => r.type === 'Microsoft.Resources/deployments' && r.name === name,
  );
  const properties = deployment?.body['properties'];
  if (!isRecord(properties)) throw new Error(`main.json has no module deployment named ${name}`);
  return properties['template'];
}

/** Resources of type `type` (the part before `@`) in a module's template. */
export function moduleResources(main: unknown, module: string, type: string): ArmResource[] {
  return templateResources(moduleTemplate(main, module)).filter((r) => r.type === type);
}

/** `apiVersion` of every resource in main.json and its module templates, by type. */
export function apiVersions(main: unknown): Map<string, Set<string>> {
  const result = new Map<string, Set<string>>();
  const visit = (template: unknown): void => {
    for (const resource of templateResources(template)) {
      const version = resource.body['apiVersion'];
      if (typeof version === 'string') {
        const set = result.get(resource.type) ?? new Set<string>();
        set.add(version);
        result.set(resource.type, set);
      }
      const properties = resource.body['properties'];
      if (resource.type === 'Microsoft.Resources/deployments' && isRecord(properties))
        visit(properties['template']);
    }
  };
  visit(main);
  return result;
}

/** A path into nested records (`get(x, 'properties', 'siteConfig')`), undefined when absent. */
export function get(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (!isRecord(current)) return undefined;
    current = current[key];
  }
  return current;
}
