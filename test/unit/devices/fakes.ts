/** In-memory fakes of the device ports, for the device unit tests. */
import type {
  DeviceRecord,
  DeviceStore,
  PushContent,
  PushDeliveryOutcome,
  PushProvider,
} from '../../../shared/domain/ports.js';

export class InMemoryDeviceStore implements DeviceStore {
  readonly rows = new Map<string, DeviceRecord>();
  private version = 0;
  /** Fails every write while set. */
  failWritesWith: Error | undefined;

  private static key(mailboxEmail: string, deviceId: string): string {
    return `${mailboxEmail.toLowerCase()}\u0000${deviceId}`;
  }

  async listDevices(mailboxEmail: string): Promise<DeviceRecord[]> {
    return [...this.rows.values()]
      .filter((d) => d.mailboxEmail === mailboxEmail.toLowerCase())
      .map((d) => ({ ...d }));
  }
  async getDevice(mailboxEmail: string, deviceId: string): Promise<DeviceRecord | undefined> {
    const row = this.rows.get(InMemoryDeviceStore.key(mailboxEmail, deviceId));
    return row ? { ...row } : undefined;
  }
  async upsertDevice(record: DeviceRecord): Promise<DeviceRecord> {
    if (this.failWritesWith) throw this.failWritesWith;
    const stored = { ...record, mailboxEmail: record.mailboxEmail.toLowerCase(), etag: `v${++this.version}` };
    this.rows.set(InMemoryDeviceStore.key(record.mailboxEmail, record.deviceId), stored);
    return { ...stored };
  }
  async deleteDevice(mailboxEmail: string, deviceId: string): Promise<void> {
    if (this.failWritesWith) throw this.failWritesWith;
    this.rows.delete(InMemoryDeviceStore.key(mailboxEmail, deviceId));
  }

  async deleteDeviceIfUnchanged(device: DeviceRecord): Promise<boolean> {
    if (this.failWritesWith) throw this.failWritesWith;
    const key = InMemoryDeviceStore.key(device.mailboxEmail, device.deviceId);
    if (this.rows.get(key)?.token !== device.token) return false;
    this.rows.delete(key);
    return true;
  }
}

/** Records what the device API told the provider; can be made to fail. */
export class RecordingPushProvider implements PushProvider {
  readonly name = 'recording';
  readonly registered: DeviceRecord[] = [];
  readonly unregistered: DeviceRecord[] = [];
  failWith: Error | undefined;

  async registerDevice(device: DeviceRecord): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.registered.push({ ...device });
  }
  async unregisterDevice(device: DeviceRecord): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.unregistered.push({ ...device });
  }
  async send(devices: readonly DeviceRecord[], _content: PushContent): Promise<PushDeliveryOutcome[]> {
    return devices.map((d) => ({ deviceId: d.deviceId, outcome: 'sent' }));
  }
}
