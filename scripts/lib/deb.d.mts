// Types of scripts/lib/deb.mjs, for TypeScript callers.
export interface DebControl {
  Package: string;
  Version: string;
  Architecture: string;
  Maintainer: string;
  /** First line the synopsis, later lines the extended description. */
  Description: string;
  Depends?: string | string[];
  [field: string]: string | string[] | undefined;
}

export function installedSizeKiB(dir: string): Promise<number>;

export function buildDeb(options: {
  stagingDir: string;
  control: DebControl;
  conffiles?: string[];
  scripts?: { preinst?: string; postinst?: string; prerm?: string; postrm?: string };
  outDir: string;
  compression?: { type: 'xz' | 'zstd' | 'gzip' | 'none'; level?: number };
}): Promise<string>;
