/**
 * Who may use the admin API: an Entra ID access token for our API (the devices API's audience,
 * issuer and signature checks) carrying the `MailPush.Admin` app role, delegated (an operator
 * assigned the role) or app-only (automation granted it).
 */
import type { BearerValidator, DevicePrincipal } from '../devices/bearer.js';
import { AppError } from '../errors.js';
import { ADMIN_ROLE } from './settings.js';

/** A valid token without the role: 403. */
export class ForbiddenError extends AppError {
  constructor(message: string) {
    super('missing_role', message);
  }
}

export interface AdminPrincipal {
  /** `oid` of the user or of the calling app's service principal. */
  objectId: string;
  /** For audit lines: the user's sign-in name, else `app:<client id>`. */
  name: string;
  kind: 'user' | 'app';
}

export async function authorizeAdmin(
  bearer: BearerValidator,
  authorization: string | null | undefined,
): Promise<AdminPrincipal> {
  const principal = await bearer.validate(authorization);
  if (!principal.roles.includes(ADMIN_ROLE)) {
    throw new ForbiddenError(
      `The token lacks the ${ADMIN_ROLE} app role: assign it to the user (or grant it to the calling app) on the API's app registration (Entra admin center → Enterprise applications → Users and groups).`,
    );
  }
  return describe(principal);
}

function describe(principal: DevicePrincipal): AdminPrincipal {
  const app = principal.username === undefined && principal.scopes.length === 0;
  return {
    objectId: principal.objectId,
    name: app ? `app:${principal.appId ?? principal.objectId}` : (principal.username ?? principal.objectId),
    kind: app ? 'app' : 'user',
  };
}
