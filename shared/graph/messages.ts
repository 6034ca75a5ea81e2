/** Reading one message after a change notification (the notification only carries its id). */
import { ValidationError } from '../errors.js';
import type { MailMessage } from '../domain/model.js';
import type { GraphClient } from './client.js';
import { hasGraphStatus } from './errors.js';

/** What a push needs, and nothing more (Outlook serves smaller answers faster). */
export const DEFAULT_MESSAGE_SELECT = [
  'subject',
  'from',
  'receivedDateTime',
  'bodyPreview',
  'importance',
  'hasAttachments',
  'isRead',
] as const;

/**
 * `GET /users/{id}/messages/{id}?$select=…`. Undefined on 404: the message was deleted or moved
 * before we got to it, which is normal for a queue that lags behind the mailbox.
 */
export async function getMessage(
  client: GraphClient,
  userId: string,
  messageId: string,
  select: readonly string[] = DEFAULT_MESSAGE_SELECT,
): Promise<MailMessage | undefined> {
  if (typeof userId !== 'string' || userId === '') throw new ValidationError('userId is required');
  if (typeof messageId !== 'string' || messageId === '') throw new ValidationError('messageId is required');
  try {
    return await client.request<MailMessage>({
      method: 'GET',
      path: `/users/${encodeURIComponent(userId)}/messages/${encodeURIComponent(messageId)}`,
      ...(select.length > 0 ? { query: { $select: select.join(',') } } : {}),
    });
  } catch (error) {
    if (hasGraphStatus(error, 404)) return undefined;
    throw error;
  }
}

export type { MailMessage };
