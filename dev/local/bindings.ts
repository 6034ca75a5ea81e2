/** `%NAME%` binding expressions, resolved from app settings like the Functions host does. */
export function resolveSettingExpression(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/%([^%]+)%/g, (_, name: string) => {
    const resolved = env[name];
    if (resolved === undefined) throw new Error(`binding expression %${name}% has no app setting`);
    return resolved;
  });
}
