/**
 * Notification Hubs tag expressions: tags combined with `||`, `&&`, `!` and parentheses, e.g.
 * `(follows_RedSox || follows_Cardinals) && location_Boston`, plus the implicit tags
 * `$InstallationId:{<id>}` and `$UserId:{<id>}`. The service allows at most 20 tags in an
 * expression made only of ORs, otherwise at most 6.
 */

export type TagNode =
  | { kind: 'tag'; tag: string }
  | { kind: 'not'; operand: TagNode }
  | { kind: 'and' | 'or'; left: TagNode; right: TagNode };

export interface ParsedTagExpression {
  root: TagNode;
  tags: string[];
  onlyOr: boolean;
}

export class TagExpressionError extends Error {}

const TAG_CHARS = /[A-Za-z0-9_@#.:-]/;
/** Plain tags: Notification Hubs' character set, ≤ 120 characters. */
export const VALID_TAG = /^[A-Za-z0-9_@#.:-]{1,120}$/;

export function parseTagExpression(expression: string): ParsedTagExpression {
  const tokens = tokenize(expression);
  let position = 0;
  const tags: string[] = [];
  let onlyOr = true;

  const peek = (): string | undefined => tokens[position];
  const take = (): string => {
    const token = tokens[position++];
    if (token === undefined) throw new TagExpressionError('unexpected end of tag expression');
    return token;
  };

  const parseOr = (): TagNode => {
    let left = parseAnd();
    while (peek() === '||') {
      take();
      left = { kind: 'or', left, right: parseAnd() };
    }
    return left;
  };
  const parseAnd = (): TagNode => {
    let left = parseUnary();
    while (peek() === '&&') {
      take();
      onlyOr = false;
      left = { kind: 'and', left, right: parseUnary() };
    }
    return left;
  };
  const parseUnary = (): TagNode => {
    const token = take();
    if (token === '!') {
      onlyOr = false;
      return { kind: 'not', operand: parseUnary() };
    }
    if (token === '(') {
      const inner = parseOr();
      if (take() !== ')') throw new TagExpressionError('missing ")" in tag expression');
      return inner;
    }
    if (token === ')' || token === '&&' || token === '||') {
      throw new TagExpressionError(`unexpected "${token}" in tag expression`);
    }
    tags.push(token);
    return { kind: 'tag', tag: token };
  };

  const root = parseOr();
  if (position !== tokens.length)
    throw new TagExpressionError(`unexpected "${tokens[position]}" in tag expression`);
  const limit = onlyOr ? 20 : 6;
  if (tags.length > limit) {
    throw new TagExpressionError(
      `tag expression names ${tags.length} tags; the limit is ${limit} ${onlyOr ? '(only ORs)' : '(with && or !)'}`,
    );
  }
  return { root, tags, onlyOr };
}

function tokenize(expression: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < expression.length) {
    const ch = expression[i] as string;
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '(' || ch === ')' || ch === '!') {
      tokens.push(ch);
      i++;
    } else if (expression.startsWith('&&', i) || expression.startsWith('||', i)) {
      tokens.push(expression.slice(i, i + 2));
      i += 2;
    } else if (ch === '$') {
      // $InstallationId:{…} / $UserId:{…}
      const match = /^\$(InstallationId|UserId):\{([^{}]+)\}/.exec(expression.slice(i));
      if (!match)
        throw new TagExpressionError(
          'malformed implicit tag (expected $InstallationId:{id} or $UserId:{id})',
        );
      tokens.push(match[0]);
      i += match[0].length;
    } else if (TAG_CHARS.test(ch)) {
      let end = i;
      while (end < expression.length && TAG_CHARS.test(expression[end] as string)) end++;
      const tag = expression.slice(i, end);
      if (!VALID_TAG.test(tag)) throw new TagExpressionError('tag longer than 120 characters');
      tokens.push(tag);
      i = end;
    } else {
      throw new TagExpressionError(`character "${ch}" is not allowed in a tag expression`);
    }
  }
  if (tokens.length === 0) throw new TagExpressionError('empty tag expression');
  return tokens;
}

export interface TagTarget {
  installationId: string;
  userId?: string;
  tags: readonly string[];
}

export function matchesTagExpression(node: TagNode, target: TagTarget): boolean {
  switch (node.kind) {
    case 'tag': {
      const implicit = /^\$(InstallationId|UserId):\{(.+)\}$/.exec(node.tag);
      if (implicit) {
        return implicit[1] === 'InstallationId'
          ? implicit[2] === target.installationId
          : implicit[2] === target.userId;
      }
      return target.tags.includes(node.tag);
    }
    case 'not':
      return !matchesTagExpression(node.operand, target);
    case 'and':
      return matchesTagExpression(node.left, target) && matchesTagExpression(node.right, target);
    case 'or':
      return matchesTagExpression(node.left, target) || matchesTagExpression(node.right, target);
  }
}
