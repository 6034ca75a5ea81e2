import { describe, expect, it } from 'vitest';
import {
  MAX_PREVIEW_CHARS,
  MAX_TITLE_CHARS,
  buildPushContent,
  cleanText,
  resolvePrivacyMode,
  summaryFromGraph,
  threadIdFor,
  type MessageSummary,
} from '../../../shared/delivery/content.js';

const MAILBOX = 'adele.vance@contoso.example';
const message: MessageSummary = {
  subject: 'Quarterly numbers',
  fromName: 'Alex Wilber',
  fromAddress: 'alex.wilber@contoso.example',
  bodyPreview: 'Hi Adele, the numbers are in. Revenue is up 12% on last quarter.',
  importance: 'normal',
};

const build = (mode: 'full' | 'subject' | 'minimal', m: MessageSummary = message, unreadCount?: number) =>
  buildPushContent({
    mode,
    mailboxEmail: MAILBOX,
    messageId: 'AAMk-1',
    message: m,
    ...(unreadCount !== undefined ? { unreadCount } : {}),
  });

describe('privacy modes', () => {
  it('full: sender as title, subject and preview as body', () => {
    const content = build('full');
    expect(content.title).toBe('Alex Wilber');
    expect(content.body).toBe(`Quarterly numbers\n${message.bodyPreview}`);
    expect(content.data).toEqual({ mailbox: MAILBOX, messageId: 'AAMk-1' });
    expect(content.threadId).toBe(threadIdFor(MAILBOX));
  });

  it('subject: sender and subject, never the preview', () => {
    const content = build('subject');
    expect(content.title).toBe('Alex Wilber');
    expect(content.body).toBe('Quarterly numbers');
    expect(JSON.stringify(content)).not.toContain('Revenue');
  });

  it('minimal: nothing from the message', () => {
    const content = build('minimal');
    expect(content).toMatchObject({ title: 'New mail', body: 'You have new mail' });
    const text = JSON.stringify(content);
    for (const secret of ['Alex', 'Quarterly', 'Revenue', 'alex.wilber']) expect(text).not.toContain(secret);
  });

  it('minimal: the unread count when known (and as badge)', () => {
    expect(build('minimal', message, 3)).toMatchObject({ body: 'You have 3 unread messages', badge: 3 });
    expect(build('minimal', message, 1).body).toBe('You have 1 unread message');
    expect(build('minimal').badge).toBeUndefined();
  });

  it('full without a preview is just the subject', () => {
    expect(build('full', { ...message, bodyPreview: '   ' }).body).toBe('Quarterly numbers');
  });

  it('marks high importance in the title (not in minimal)', () => {
    expect(build('subject', { ...message, importance: 'high' }).title).toBe('❗ Alex Wilber');
    expect(build('minimal', { ...message, importance: 'high' }).title).toBe('New mail');
  });
});

describe('sender and subject fallbacks', () => {
  it('uses the address when the sender has no name', () => {
    expect(build('full', { ...message, fromName: '' }).title).toBe('alex.wilber@contoso.example');
  });

  it('says "New mail" when there is no sender at all', () => {
    const noSender: MessageSummary = { ...message };
    delete noSender.fromName;
    delete noSender.fromAddress;
    expect(build('subject', noSender).title).toBe('New mail');
  });

  it('says "(no subject)" for an empty subject', () => {
    expect(build('subject', { ...message, subject: '' }).body).toBe('(no subject)');
    expect(build('full', { ...message, subject: undefined }).body.startsWith('(no subject)\n')).toBe(true);
  });
});

describe('sanitising', () => {
  it('strips control characters and line breaks from what the message supplies', () => {
    const content = build('full', {
      subject: 'Pay\u0000ment\r\ndue\u0007',
      fromName: 'Bob\u001b[31m',
      bodyPreview: 'line one\nline two\tend\u009b',
    });
    expect(content.title).toBe('Bob [31m');
    // One newline: the one we put between subject and preview.
    expect(content.body).toBe('Pay ment due\nline one line two end');
    expect(content.body.split('\n')).toHaveLength(2);
    // eslint-disable-next-line no-control-regex
    expect(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(content.title + content.body)).toBe(false);
  });

  it('removes bidirectional overrides that disguise a sender', () => {
    const content = build('subject', { ...message, fromName: 'Alex \u202egnp.exe\u202c Wilber' });
    expect(content.title).toBe('Alex gnp.exe Wilber');
  });

  it(`cuts long previews to ${MAX_PREVIEW_CHARS} characters with an ellipsis`, () => {
    const long = 'word '.repeat(200);
    const content = build('full', { ...message, bodyPreview: long });
    const preview = content.body.split('\n')[1]!;
    expect(Array.from(preview).length).toBeLessThanOrEqual(MAX_PREVIEW_CHARS);
    expect(preview.endsWith('…')).toBe(true);
    expect(preview.startsWith('word word')).toBe(true);
  });

  it('never splits a surrogate pair when cutting', () => {
    const text = '😀'.repeat(300);
    const cut = cleanText(text, 10);
    expect(Array.from(cut)).toHaveLength(10);
    expect(cut).toBe(`${'😀'.repeat(9)}…`);
    expect(/[\ud800-\udbff](?![\udc00-\udfff])/.test(cut)).toBe(false);
  });

  it('cuts long sender names for the title', () => {
    const title = build('subject', { ...message, fromName: 'N'.repeat(500) }).title;
    expect(Array.from(title).length).toBeLessThanOrEqual(MAX_TITLE_CHARS);
  });

  it('leaves short clean text alone and ignores non-strings', () => {
    expect(cleanText('  Hello   world ', 50)).toBe('Hello world');
    expect(cleanText(42, 50)).toBe('');
    expect(cleanText(undefined, 50)).toBe('');
  });
});

describe('privacy mode resolution', () => {
  it("uses the mailbox's mode, else the tenant default", () => {
    expect(resolvePrivacyMode({ privacyMode: 'full' }, 'minimal')).toBe('full');
    expect(resolvePrivacyMode({}, 'minimal')).toBe('minimal');
    expect(resolvePrivacyMode({ privacyMode: 'bogus' as never }, 'subject')).toBe('subject');
  });
});

describe('thread id', () => {
  it('is a hash of the mailbox: stable, case-insensitive, not the address', () => {
    expect(threadIdFor('Adele.Vance@Contoso.example')).toBe(threadIdFor(MAILBOX));
    expect(threadIdFor(MAILBOX)).not.toBe(threadIdFor('alex.wilber@contoso.example'));
    expect(threadIdFor(MAILBOX)).not.toContain('adele');
  });
});

describe('summaryFromGraph', () => {
  it('reads the selected fields and ignores wrong types', () => {
    const summary = summaryFromGraph({
      id: 'm1',
      subject: 'S',
      from: { emailAddress: { name: 'N', address: 'a@b.c' } },
      bodyPreview: 'P',
      importance: 'high',
      isRead: false,
      receivedDateTime: '2026-11-23T10:00:00Z',
      hasAttachments: 'yes',
      body: { content: 'the full body' },
    });
    expect(summary).toEqual({
      id: 'm1',
      subject: 'S',
      fromName: 'N',
      fromAddress: 'a@b.c',
      bodyPreview: 'P',
      importance: 'high',
      isRead: false,
      receivedDateTime: '2026-11-23T10:00:00Z',
    });
    expect(summaryFromGraph({ id: 'x', from: null }).fromName).toBeUndefined();
  });
});
