// Types of scripts/package-appliance.mjs for the TypeScript tests that build the package.
export interface AppliancePackage {
  deb: string;
  version: string;
  arch: string;
  debBytes: number;
  installedKiB: number;
  unit: string;
}

export function buildAppliancePackage(options?: {
  arch?: string;
  version?: string;
  node?: string;
  outDir?: string;
  stagingDir?: string;
  keepStaging?: boolean;
  sourceRoot?: string;
  compression?: { type: 'xz' | 'zstd' | 'gzip' | 'none'; level?: number };
}): Promise<AppliancePackage>;

export function packagedUnit(text: string): string;
export function unitExecStart(unit: string): string[];
