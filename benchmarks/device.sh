#!/usr/bin/env bash
# Everything the benchmarks want from a GPU machine, in one call (the device tool runs this in the repo root):
# the bench at the papers' sizes (torch.compile included), then the DDPM, Score-SDE and PFGM CIFAR-10 configs at
# their own batch, eager fp32 against all fast paths on. Results go to $OUT (or benchmarks/results).
#   bash benchmarks/device.sh            # about 8 minutes on one H100/H200
set -euo pipefail
out=${OUT:-benchmarks/results}
mkdir -p "$out"
python benchmarks/bench.py --device cuda --out "$out" 2>&1 | tee "$out/bench.log"
fast=(--set train.bf16=true --set train.channels_last=true --set train.fused_adam=true --set train.compile=true)
for rc in ddpm:replications/ddpm/configs/cifar10.yaml score_sde:replications/score_sde/configs/cifar10_vp.yaml \
          pfgm:replications/pfgm/configs/cifar10.yaml; do
  r=${rc%%:*} c=${rc#*:}
  python benchmarks/train_step.py --replication "$r" --config "$c" --device cuda --steps 30 >> "$out/configs.jsonl"
  python benchmarks/train_step.py --replication "$r" --config "$c" --device cuda --steps 30 "${fast[@]}" \
    >> "$out/configs.jsonl"
done
cat "$out/configs.jsonl"
