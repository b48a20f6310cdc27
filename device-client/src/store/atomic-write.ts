import { randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

/**
 * Replaces `file` so that a crash or power cut at any moment leaves either the old content or the
 * new, never a torn file: write a temporary file in the same directory (same file system, so the
 * rename is atomic), fsync it, rename it over the target, then fsync the directory so the rename
 * itself is durable. Without the last step ext4 may forget the rename after a power cut.
 */
export function writeFileAtomic(file: string, data: Uint8Array | string, mode = 0o600): void {
  const dir = path.dirname(file);
  const temporary = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkQuietly(temporary);
    throw error;
  }
  closeSync(fd);
  try {
    renameSync(temporary, file);
  } catch (error) {
    unlinkQuietly(temporary);
    throw error;
  }
  fsyncDirectory(dir);
}

export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

/** Temporary files that a killed writer left behind (`.<name>.<pid>.<hex>.tmp`). */
export function isTemporaryOf(name: string, candidate: string): boolean {
  return candidate.startsWith(`.${name}.`) && candidate.endsWith('.tmp');
}
