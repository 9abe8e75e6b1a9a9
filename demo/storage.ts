// What the browser tests read or alter of the library's stored versions (IndexedDB), behind its back.
import { openDB } from 'idb';

const DATABASE = 'ondevice-bundles';

/** The library's database, or undefined before it made one (opening it here would make an empty one). */
async function database() {
  const exists = (await indexedDB.databases()).some((db) => db.name === DATABASE);
  return exists ? openDB(DATABASE) : undefined;
}

export const storage = {
  /** How many versions have files stored. */
  async storedVersions(): Promise<number> {
    const db = await database();
    const keys = (db === undefined ? [] : await db.getAllKeys('files')) as [string, string][];
    return new Set(keys.map(([version]) => version)).size;
  },
  /** The versions recorded for a channel, as `version status` (`(not stored)` when its files are gone). */
  async recordedVersions(channel: string): Promise<string[]> {
    const record = (await (await database())?.get('records', new URL(channel, location.href).href)) as
      { versions: { version: string; status: string; stored: boolean }[] } | undefined;
    return (record?.versions ?? []).map((v) => `${v.version} ${v.status}${v.stored ? '' : ' (not stored)'}`).sort();
  },
  /** Flips one byte of the first stored file whose URL ends with `suffix`. */
  async corrupt(suffix: string): Promise<void> {
    const db = await database();
    if (db === undefined) throw new Error('nothing is stored');
    const key = ((await db.getAllKeys('files')) as [string, string][]).find(([, url]) => url.endsWith(suffix));
    if (key === undefined) throw new Error(`no stored file ends with ${suffix}`);
    const entry = (await db.get('files', key)) as { bytes: ArrayBuffer };
    const bytes = new Uint8Array(entry.bytes.slice(0));
    bytes[bytes.length - 9]! ^= 0x01;
    await db.put('files', { bytes: bytes.buffer }, key);
  },
  /** Forgets every stored version. */
  async clear(): Promise<void> {
    const db = await database();
    await db?.clear('files');
    await db?.clear('records');
  },
};
