/** Every error Skiff raises on purpose carries a stable, machine-readable code. */
export class SkiffError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = "SkiffError";
    this.code = code;
    this.details = details;
  }
}

export function isSkiffError(err: unknown): err is SkiffError {
  return err instanceof SkiffError;
}

/** Message of any thrown value, for logs and error bodies. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
