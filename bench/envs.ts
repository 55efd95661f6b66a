export async function run(_args: string[]): Promise<void> {
  throw new Error("bench envs: not built yet");
}
