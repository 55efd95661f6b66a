/** A small model on the shipped CartPole data: real training steps in well under a second each (`snndt train` flags). */
export const TINY_TRAIN_FLAGS: readonly string[] = [
  "--set", "model.d_model=16",
  "--set", "model.n_heads=2",
  "--set", "model.n_layers=1",
  "--set", "model.context=5",
  "--set", "model.lif.T=3",
  "--set", "train.batch_size=16",
  "--set", "train.val_batches=2",
  "--set", "train.warmup_steps=5",
  "--set", "train.lr=0.003",
];
