// The lexer behind the text-based infra tests (test/support/bicep/lexer.ts).
import { describe, expect, it } from 'vitest';
import { lexBicep, matchingClose, objectKeys } from '../../support/bicep/lexer.js';

describe('the Bicep lexer used by the infra tests', () => {
  it('blanks comments but not comment-like text inside strings', () => {
    const lexed = lexBicep("var a = 'x//y' // it's a comment\n/* b */ var c = 1");
    expect(lexed.code).toContain("'x//y'");
    expect(lexed.code).not.toContain("it's");
    expect(lexed.code).not.toContain('b */');
    expect(lexed.code.length).toBe(lexed.masked.length);
  });

  it('masks string contents, including interpolations, so braces inside do not count', () => {
    const lexed = lexBicep("var a = { k: '${b}}{' }");
    expect(matchingClose(lexed.masked, lexed.masked.indexOf('{'))).toBe(lexed.masked.length);
  });

  it('finds only the top-level keys of an object', () => {
    const lexed = lexBicep("x = {\n  a: 1\n  b: {\n    c: 2\n  }\n  'd-e': f(1)\n}");
    expect(objectKeys(lexed, lexed.masked.indexOf('{'))).toEqual(['a', 'b', 'd-e']);
  });

  it('does not take a #disable-next-line directive for a key', () => {
    const lexed = lexBicep("x = {\n  #disable-next-line no-hardcoded-env-urls\n  a: 'https://h'\n}");
    expect(objectKeys(lexed, lexed.masked.indexOf('{'))).toEqual(['a']);
  });
});
