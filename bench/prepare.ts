export async function run(_args: string[]): Promise<void> {
  throw new Error("bench prepare: not built yet");
}
