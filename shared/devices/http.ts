/**
 * HTTP side of the device API, called by functions/devices-post.ts and functions/devices-delete.ts
 * with the composition root's dependencies (tests pass real stores and a fake provider). The
 * dependencies may be a promise: a composition root that failed to build becomes a plain 500.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { DeviceRecord, DeviceStore, MailboxStore, PushProvider } from '../domain/ports.js';
import { ensureError } from '../errors.js';
import { SECURITY_HEADERS, empty, errorResponse, json, responseForError } from '../http/responses.js';
import type { MailboxRecord } from '../domain/model.js';
import type { BearerValidator, DevicePrincipal } from './bearer.js';
import { AuthError, DeviceAccessError } from './errors.js';
import { registerDevice, unregisterDevice } from './register.js';

/** A registration is three short fields; anything this large is not one. */
export const MAX_DEVICE_BODY_BYTES = 16 * 1024;

export interface DeviceApiDeps {
  mailboxes: MailboxStore;
  devices: DeviceStore;
  push: PushProvider;
  bearer: BearerValidator;
  now: () => Date;
  maxDevicesPerMailbox?: number;
  /** Self-service enrolment (ENROL_ON_DEVICE_REGISTRATION); absent: off. */
  enrolIfMissing?: (principal: DevicePrincipal) => Promise<MailboxRecord | undefined>;
}

/** What the app gets back: never the push token. */
export interface DeviceView {
  deviceId: string;
  platform: DeviceRecord['platform'];
  mailbox: string;
  createdAt: string;
  updatedAt: string;
}

/** `POST /api/devices`: 201 created, 200 updated (re-registration, e.g. a new token). */
export async function handleDeviceRegistration(
  request: HttpRequest,
  context: InvocationContext,
  dependencies: DeviceApiDeps | Promise<DeviceApiDeps>,
): Promise<HttpResponseInit> {
  try {
    const deps = await dependencies;
    const principal = await deps.bearer.validate(request.headers.get('authorization'));
    const body = await readJsonBody(request);
    if ('status' in body) return body.status;
    const result = await registerDevice({
      principal,
      body: body.value,
      now: deps.now(),
      mailboxes: deps.mailboxes,
      devices: deps.devices,
      push: deps.push,
      ...(deps.maxDevicesPerMailbox !== undefined ? { maxDevicesPerMailbox: deps.maxDevicesPerMailbox } : {}),
      ...(deps.enrolIfMissing ? { enrolIfMissing: deps.enrolIfMissing } : {}),
    });
    const { device } = result;
    context.info(`devices: ${result.outcome} device ${device.deviceId} (${device.platform})`);
    return result.outcome === 'created'
      ? json(201, viewOf(device), { Location: `/api/devices/${encodeURIComponent(device.deviceId)}` })
      : json(200, viewOf(device));
  } catch (error) {
    return deviceErrorResponse(error, context, 'register');
  }
}

/** `DELETE /api/devices/{deviceId}`: 204 whether it was there or not (idempotent). */
export async function handleDeviceRemoval(
  request: HttpRequest,
  context: InvocationContext,
  dependencies: DeviceApiDeps | Promise<DeviceApiDeps>,
): Promise<HttpResponseInit> {
  try {
    const deps = await dependencies;
    const principal = await deps.bearer.validate(request.headers.get('authorization'));
    const outcome = await unregisterDevice({
      principal,
      deviceId: request.params['deviceId'],
      mailboxes: deps.mailboxes,
      devices: deps.devices,
      push: deps.push,
    });
    if (outcome === 'deleted') context.info('devices: deleted a device');
    return empty(204);
  } catch (error) {
    return deviceErrorResponse(error, context, 'unregister');
  }
}

/**
 * Maps the device API's errors; everything else goes through the app-wide mapping
 * (ValidationError 400, DependencyError 503, else 500 without details).
 */
export function deviceErrorResponse(
  error: unknown,
  context: InvocationContext,
  operation: string,
): HttpResponseInit {
  if (error instanceof AuthError) {
    // Only the reason code is logged: never the token or its claims.
    context.info(`devices ${operation}: 401 ${error.code}`);
    return {
      ...errorResponse(401, error.code, error.message),
      headers: { ...SECURITY_HEADERS, 'WWW-Authenticate': wwwAuthenticate(error) },
    };
  }
  if (error instanceof DeviceAccessError) {
    context.info(`devices ${operation}: 403 not the caller's mailbox`);
    return errorResponse(403, error.code, error.message);
  }
  const response = responseForError(error);
  if ((response.status ?? 500) >= 500) {
    const err = ensureError(error);
    context.error(`devices ${operation}: ${response.status}: ${err.name}: ${err.message}`);
  }
  return response;
}

/**
 * RFC 6750 §3: no error code when the request carried no token at all; `invalid_token` with a
 * short description otherwise (quotes and backslashes cannot occur in our messages).
 */
function wwwAuthenticate(error: AuthError): string {
  if (error.code === 'missing_token') return 'Bearer';
  return `Bearer error="invalid_token", error_description="${error.message.replace(/["\\]/g, '')}"`;
}

function viewOf(device: DeviceRecord): DeviceView {
  return {
    deviceId: device.deviceId,
    platform: device.platform,
    mailbox: device.mailboxEmail,
    createdAt: device.createdAt,
    updatedAt: device.updatedAt,
  };
}

async function readJsonBody(
  request: HttpRequest,
): Promise<{ value: unknown } | { status: HttpResponseInit }> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > MAX_DEVICE_BODY_BYTES) return { status: tooLarge() };
  const contentType = (request.headers.get('content-type') ?? '').toLowerCase();
  if (!/^application\/(.+\+)?json\b/.test(contentType)) {
    return {
      status: errorResponse(415, 'unsupported_media_type', 'Content-Type must be application/json.'),
    };
  }
  const raw = Buffer.from(await request.arrayBuffer());
  if (raw.byteLength > MAX_DEVICE_BODY_BYTES) return { status: tooLarge() };
  try {
    return { value: JSON.parse(raw.toString('utf8')) as unknown };
  } catch {
    return { status: errorResponse(400, 'invalid_json', 'Body is not valid JSON.') };
  }
}

function tooLarge(): HttpResponseInit {
  return errorResponse(413, 'payload_too_large', `Body must be at most ${MAX_DEVICE_BODY_BYTES} bytes.`);
}
