/** Small DOM helpers: elements by id (a missing one is a bug in index.html) and element builders. */

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`console: #${id} is missing from the page`);
  return element as T;
}

type Child = Node | string | undefined | false;

/** `h('dt', {}, 'State')`: text is always set as text, never parsed as HTML. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) if (child !== undefined && child !== false) element.append(child);
  return element;
}

/** A `<dl>`'s content from label/value pairs; pairs without a value are left out. */
export function definitions(list: HTMLElement, pairs: [string, string | number | undefined][]): void {
  list.replaceChildren(
    ...pairs
      .filter(([, value]) => value !== undefined && value !== '')
      .flatMap(([label, value]) => [h('dt', {}, label), h('dd', {}, String(value))]),
  );
}

export function formatTime(iso: string | undefined): string | undefined {
  if (!iso) return undefined;
  const time = new Date(iso);
  return Number.isNaN(time.getTime()) ? iso : time.toLocaleString();
}

export function formatCount(value: number): string {
  return value.toLocaleString('en');
}
