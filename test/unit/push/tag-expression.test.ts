/** The tag-expression evaluator of the Notification Hubs stand-in (test/support/push-sim). */
import { describe, expect, it } from 'vitest';
import {
  TagExpressionError,
  matchesTagExpression,
  parseTagExpression,
} from '../../../dev/sim/push/tag-expression.js';

const target = { installationId: 'inst-1', userId: 'u-1', tags: ['user:1', 'mailbox:abc', 'vip'] };
const matches = (expression: string) => matchesTagExpression(parseTagExpression(expression).root, target);

describe('parseTagExpression / matchesTagExpression', () => {
  it('evaluates tags, implicit tags and the operators with && binding tighter than ||', () => {
    expect(matches('vip')).toBe(true);
    expect(matches('other')).toBe(false);
    expect(matches('$InstallationId:{inst-1}')).toBe(true);
    expect(matches('$InstallationId:{inst-2}')).toBe(false);
    expect(matches('$UserId:{u-1}')).toBe(true);
    expect(matches('other || vip && mailbox:abc')).toBe(true);
    expect(matches('(other || vip) && !mailbox:abc')).toBe(false);
    expect(matches('!other')).toBe(true);
  });

  it('applies the 20-tag limit to OR-only expressions and 6 otherwise', () => {
    const tags = (n: number, op: string) => Array.from({ length: n }, (_, i) => `t${i}`).join(op);
    expect(parseTagExpression(tags(20, '||')).onlyOr).toBe(true);
    expect(() => parseTagExpression(tags(21, '||'))).toThrow(TagExpressionError);
    expect(() => parseTagExpression(tags(6, '&&'))).not.toThrow();
    expect(() => parseTagExpression(tags(7, '&&'))).toThrow(/limit is 6/);
  });

  it('refuses malformed expressions', () => {
    for (const bad of ['', 'a ||', '(a', 'a)', 'a b', 'a && && b', 'a=b', '$Other:{x}']) {
      expect(() => parseTagExpression(bad), bad).toThrow(TagExpressionError);
    }
  });
});
