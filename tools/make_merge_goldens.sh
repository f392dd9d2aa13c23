#!/usr/bin/env bash
# Dev tool (not used at run time): golden merges made by the real mergekit 0.1.5 for methods the
# shared reference set does not cover. Needs mergekit 0.1.5 (torch 2.15 CPU) in a venv:
#   python3 -m venv /tmp/mk && /tmp/mk/bin/pip install mergekit==0.1.5
#   MERGEKIT=/tmp/mk/bin/mergekit-yaml tools/make_merge_goldens.sh
set -euo pipefail
cd "$(dirname "$0")/../fixtures/merges"
MERGEKIT=${MERGEKIT:-mergekit-yaml}
case_() {  # name seed yaml   (ONLY=name remakes just that case)
  local name=$1 seed=$2 yaml=$3
  if [[ -n "${ONLY:-}" && "$ONLY" != "$name" ]]; then return 0; fi
  mkdir -p "$name"
  printf '%s\n' "$yaml" > "$name/config.yml"
  local method=$(sed -n 's/^merge_method: //p' "$name/config.yml")
  printf 'method=%s seed=%s made by tools/make_merge_goldens.sh with mergekit 0.1.5, torch 2.15 (CPU)\n\nRegenerate (inside this folder): `mergekit-yaml config.yml expected --random-seed %s --no-write-model-card --quiet`\n' "$method" "$seed" "$seed" > "$name/CASE.md"
  rm -rf "$name/expected.tmp"
  (cd "$name" && "$MERGEKIT" config.yml expected.tmp --random-seed "$seed" --no-write-model-card --quiet)
  mkdir -p "$name/expected"
  cp "$name/expected.tmp/config.json" "$name/expected.tmp/model.safetensors" "$name/expected/"
  rm -rf "$name/expected.tmp"
  echo "made $name"
}
L=../../models/llama
case_ llama-karcher-a 0 "merge_method: karcher
models:
- {model: $L/ft1}
- {model: $L/ft2}
- {model: $L/ft3}
dtype: float32"
case_ llama-karcher-b 0 "merge_method: karcher
base_model: $L/base
models:
- {model: $L/ft1}
- {model: $L/ft2}
parameters: {max_iter: 5}
dtype: bfloat16"
case_ llama-sce-a 0 "merge_method: sce
base_model: $L/base
models:
- {model: $L/ft1}
- {model: $L/ft2}
- {model: $L/ft3}
parameters: {select_topk: 0.5}
dtype: float32"
case_ llama-sce-b 0 "merge_method: sce
base_model: $L/base
models:
- {model: $L/ft1}
- {model: $L/ft2}
dtype: bfloat16"
case_ llama-nearswap-a 0 "merge_method: nearswap
base_model: $L/base
models:
- {model: $L/base}
- {model: $L/ft1}
parameters: {t: 0.01}
dtype: float32"
case_ qwen2-nearswap-b 0 "merge_method: nearswap
base_model: ../../models/qwen2/base
models:
- {model: ../../models/qwen2/base}
- {model: ../../models/qwen2/ft2}
parameters: {t: 0.02}
dtype: bfloat16"
case_ llama-arcee_fusion-a 0 "merge_method: arcee_fusion
base_model: $L/base
models:
- {model: $L/base}
- {model: $L/ft1}
dtype: float32"
case_ mistral-arcee_fusion-b 0 "merge_method: arcee_fusion
base_model: ../../models/mistral/base
models:
- {model: ../../models/mistral/base}
- {model: ../../models/mistral/ft2}
dtype: bfloat16"
case_ llama-della_linear-a 5 "merge_method: della_linear
base_model: $L/base
models:
- {model: $L/ft1, parameters: {weight: 0.6, density: 0.5, epsilon: 0.1}}
- {model: $L/ft2, parameters: {weight: 0.4, density: 0.6}}
dtype: float32"
case_ llama-breadcrumbs_ties-a 0 "merge_method: breadcrumbs_ties
base_model: $L/base
models:
- {model: $L/ft1, parameters: {weight: 0.6, density: 0.5, gamma: 0.05}}
- {model: $L/ft2, parameters: {weight: 0.4, density: 0.7}}
dtype: float32"
M=../../models/mistral
case_ llama-ram-x 0 "merge_method: ram
base_model: $L/base
models:
- {model: $L/ft1}
- {model: $L/ft2}
- {model: $L/ft3}
parameters: {epsilon: 0.03}"
case_ mistral-ram-y 0 "merge_method: ram
base_model: $M/base
models:
- {model: $M/ft1}
- {model: $M/ft2}
parameters: {epsilon: 0.02}"
case_ llama-ramplus_tl-x 0 "merge_method: ramplus_tl
base_model: $L/base
models:
- {model: $L/ft1}
- {model: $L/ft2}
- {model: $L/ft3}
parameters: {epsilon: 0.04, r: 0.5, alpha: 0.9}"
case_ mistral-ramplus_tl-y 0 "merge_method: ramplus_tl
base_model: $M/base
models:
- {model: $M/ft1}
- {model: $M/ft2}
- {model: $M/ft3}
parameters: {epsilon: 0.03}"
case_ gemma2-ramplus_tl-z 0 "merge_method: ramplus_tl
base_model: ../../models/gemma2/base
models:
- {model: ../../models/gemma2/ft1}
- {model: ../../models/gemma2/ft2}
parameters: {r: 0.2, alpha: 0.5, epsilon: 0.02}
dtype: float16"
case_ mistral-multislerp-w 0 "merge_method: multislerp
base_model: ../../models/mistral/base
models:
- {model: ../../models/mistral/ft1, parameters: {weight: 0.6}}
- {model: ../../models/mistral/ft2, parameters: {weight: 0.3}}
- {model: ../../models/mistral/ft3, parameters: {weight: 0.1}}
dtype: bfloat16"
case_ mistral-sce-w 0 "merge_method: sce
base_model: ../../models/mistral/base
models:
- {model: ../../models/mistral/ft1}
- {model: ../../models/mistral/ft2}
- {model: ../../models/mistral/ft3}
parameters: {select_topk: 0.3}
dtype: bfloat16"
# From tools/fuzz_merges.py (seed 2, case 56): float16 karcher written as float32 — torch casts a
# 0-dim float32 first operand (cos‖T‖, sin‖T‖, the scale) to float16 before the product.
case_ qwen2-karcher-c 0 "merge_method: karcher
models:
- {model: ../../models/qwen2/ft2}
- {model: ../../models/qwen2/ft1}
parameters: {max_iter: 10}
dtype: float16
out_dtype: float32"
# From tools/fuzz_merges.py (seed 10, case 30): float32 arcee_fusion — a row's KL divergence is a
# float32 sum of terms of both signs, so torch's summation order (aten's cascade_sum) decides it.
case_ mistral-arcee_fusion-c 35026 "merge_method: arcee_fusion
dtype: float32
base_model: ../../models/mistral/base
models:
- model: ../../models/mistral/ft1"
# From tools/fuzz_merges.py (seeds 10 and 11): bf16 and f16 arcee_fusion, where one softmax
# element in a few hundred rows lands a rounding off unless the row is exponentiated with SLEEF's
# expf and summed in torch's 16-lane order — and that element moves an importance onto the threshold.
case_ gemma2-arcee_fusion-d 41545 "merge_method: arcee_fusion
dtype: bfloat16
base_model: ../../models/gemma2/base
models:
- model: ../../models/gemma2/ft2"
case_ qwen2-arcee_fusion-f16 5913 "merge_method: arcee_fusion
dtype: float16
base_model: ../../models/qwen2/base
models:
- model: ../../models/qwen2/ft3"
# float16 merges found by tools/fuzz_merges.py (seed 2): gradients, filters, lambda, out_dtype, rescale off.
case_ llama-dare_linear-f16 6141 "merge_method: dare_linear
dtype: float16
out_dtype: bfloat16
base_model: ../../models/llama/base
models:
- model: ../../models/llama/ft2
  parameters:
    weight:
    - filter: q_proj
      value: 0.27
    - value: 0.14
    density: 0.19
- model: ../../models/llama/ft1
  parameters:
    weight: 0.91
    density:
    - 0.79
    - 0.36
parameters:
  normalize: true
  lambda: 0.69"
case_ cohere_qknorm-dare_ties-f16 52840 "merge_method: dare_ties
dtype: float16
base_model: ../../models/cohere_qknorm/base
models:
- model: ../../models/cohere_qknorm/ft1
  parameters:
    weight: 0.59
    density: 0.82
- model: ../../models/cohere_qknorm/ft3
  parameters:
    weight: 0.32
    density: 0.68
- model: ../../models/cohere_qknorm/ft2
  parameters:
    weight: 0.85
    density: 0.44
parameters:
  rescale: false"
case_ mistral-della_linear-f16 54914 "merge_method: della_linear
dtype: float16
base_model: ../../models/mistral/base
models:
- model: ../../models/mistral/ft1
  parameters:
    weight:
    - 0.27
    - -0.05
    - -0.05
    density: 0.5
    epsilon: 0.011
- model: ../../models/mistral/ft2
  parameters:
    weight: 0.73
    density: 0.52
    epsilon: 0.154
parameters:
  normalize: false
  lambda: 1.03"
case_ cohere_qknorm-breadcrumbs_ties-f16 21767 "merge_method: breadcrumbs_ties
dtype: float16
base_model: ../../models/cohere_qknorm/base
models:
- model: ../../models/cohere_qknorm/ft3
  parameters:
    weight: 0.66
    density: 0.55
    gamma: 0.049
- model: ../../models/cohere_qknorm/ft2
  parameters:
    weight: 0.4
    density: 0.39
    gamma: 0.088
- model: ../../models/cohere_qknorm/ft1
  parameters:
    weight: 0.35
    density: 0.92
    gamma: 0.072
parameters:
  normalize: true"
case_ cohere2-slerp-f16 5896 "merge_method: slerp
dtype: float16
base_model: ../../models/cohere2/ft3
models:
- model: ../../models/cohere2/ft3
- model: ../../models/cohere2/ft2
parameters:
  t: 0.16"
case_ llama-model_stock-f16 29185 "merge_method: model_stock
dtype: float16
base_model: ../../models/llama/base
models:
- model: ../../models/llama/ft2
- model: ../../models/llama/ft1"
# The slices form with merge methods (the shared set has it only for passthrough): mergekit's classic
# slerp config with per-filter t gradients over two slices, and dare_ties with a density gradient.
case_ qwen2-slerp-slices 0 "merge_method: slerp
base_model: ../../models/qwen2/ft1
slices:
- sources:
  - {model: ../../models/qwen2/ft1, layer_range: [0, 2]}
  - {model: ../../models/qwen2/ft3, layer_range: [0, 2]}
- sources:
  - {model: ../../models/qwen2/ft1, layer_range: [2, 3]}
  - {model: ../../models/qwen2/ft3, layer_range: [2, 3]}
parameters:
  t:
  - {filter: self_attn, value: [0, 0.5, 0.3, 0.7, 1]}
  - {filter: mlp, value: [1, 0.5, 0.7, 0.3, 0]}
  - {value: 0.5}
dtype: bfloat16"
case_ llama-dare_ties-slices 7 "merge_method: dare_ties
base_model: ../../models/llama/base
slices:
- sources:
  - {model: ../../models/llama/base, layer_range: [0, 1]}
  - {model: ../../models/llama/ft1, layer_range: [0, 1], parameters: {weight: 0.6, density: 0.5}}
  - {model: ../../models/llama/ft3, layer_range: [0, 1], parameters: {weight: 0.4, density: 0.7}}
- sources:
  - {model: ../../models/llama/base, layer_range: [1, 4]}
  - {model: ../../models/llama/ft1, layer_range: [1, 4], parameters: {weight: 0.6, density: [0.2, 0.8]}}
  - {model: ../../models/llama/ft3, layer_range: [1, 4], parameters: {weight: 0.4, density: 0.7}}
dtype: bfloat16"
# From tools/fuzz_merges.py (seeds 10, 14, 15): multislerp without a base, where norms and dots
# must be reduced in torch's order (TorchNorm, TorchSum.cascade) and the sums over models
# accumulated in float32 and rounded once; before that, bf16 reached 3 ulp@absmax, f32 20 ulp,
# and float16 norms (torch's sequential path, not the 8-lane one) came out a rounding off.
case_ llama-multislerp-bf16 9059 "merge_method: multislerp
dtype: bfloat16
parameters:
  normalize_weights: false
models:
- model: ../../models/llama/ft1
  parameters:
    weight: 0.62
- model: ../../models/llama/ft3
  parameters:
    weight: 0.1
- model: ../../models/llama/ft2
  parameters:
    weight: 0.71"
case_ cohere_qknorm-multislerp-f16 11891 "merge_method: multislerp
dtype: float16
parameters:
  weight: 0.83
models:
- model: ../../models/cohere_qknorm/ft2
- model: ../../models/cohere_qknorm/ft3
- model: ../../models/cohere_qknorm/ft1"
case_ mistral-multislerp-f32 46552 "merge_method: multislerp
dtype: float32
out_dtype: float32
parameters:
  normalize_weights: false
models:
- model: ../../models/mistral/ft1
  parameters:
    weight: 1.0
- model: ../../models/mistral/ft3
  parameters:
    weight: 0.4"
# From tools/fuzz_merges.py (seeds 12, 15): model_stock in float32 and per row (filter_wise), where
# the norms and dots must be reduced in torch's order and the mean of the cosines taken in float32
# (before: 2.4 ulp@absmax in float32).
case_ cohere2-model_stock-f32 39627 "merge_method: model_stock
dtype: float32
base_model: ../../models/cohere2/base
models:
- model: ../../models/cohere2/ft3
- model: ../../models/cohere2/ft1"
case_ mistral-model_stock-rows 0 "merge_method: model_stock
base_model: ../../models/mistral/base
parameters:
  filter_wise: true
slices:
- sources:
  - model: ../../models/mistral/base
    layer_range: [0, 2]
  - model: ../../models/mistral/ft3
    layer_range: [0, 2]
  - model: ../../models/mistral/ft1
    layer_range: [0, 2]"
# From tools/fuzz_merges.py (seed 15): karcher, where the norms must be torch's (`vector_norm` of
# the float32 copy, TorchNorm's order). With identical inputs (q/k-norm weights all 1) ⟨u, Uᵢ⟩ is
# 1 or one ulp below it, θ = acos of that is 0 or 3.5e-4, and a step is taken or not: 30 ulp@absmax
# before in float32; bf16 differed by 1 ulp@absmax.
case_ cohere_qknorm-karcher-f32 19904 "merge_method: karcher
dtype: float32
parameters:
  max_iter: 3
models:
- model: ../../models/cohere_qknorm/ft1
- model: ../../models/cohere_qknorm/ft2
- model: ../../models/cohere_qknorm/ft3"
case_ mistral-karcher-bf16 55883 "merge_method: karcher
dtype: bfloat16
parameters:
  max_iter: 3
models:
- model: ../../models/mistral/ft2
- model: ../../models/mistral/ft3
- model: ../../models/mistral/ft1"
# From tools/fuzz_merges.py (seed 9): sce in float32, where each model's mean square must be
# torch's `square().mean(dim=1)` (a cascade sum in float32, then ÷ n), or its weight moves an ulp.
case_ llama-sce-f32 48412 "merge_method: sce
dtype: float32
base_model: ../../models/llama/base
parameters:
  select_topk: 1.0
models:
- model: ../../models/llama/ft2
- model: ../../models/llama/ft3
- model: ../../models/llama/ft1"
# From tools/fuzz_merges.py (seed 17): sce with select_topk < 1 on bf16 deltas, where many variances
# tie at the top-k boundary and torch's topk (std::nth_element here) decides which stay: 14 % of
# elements differed before `IntroSort.topk` replayed it.
case_ qwen2-sce-topk 62103 "merge_method: sce
dtype: bfloat16
base_model: ../../models/qwen2/base
parameters:
  select_topk: 0.5
models:
- model: ../../models/qwen2/ft2
- model: ../../models/qwen2/ft3
- model: ../../models/qwen2/ft1"
# From tools/fuzz_merges.py (seed 18): karcher in float16, where ⟨u, Uᵢ⟩ must be torch's own
# reduced-precision dot (`TorchDot`: 8-lane float32 accumulators, tree and butterfly): the exact
# dot of one step lay 5e-8 below a float16 midpoint and torch's float32 sum above it.
case_ qwen2-karcher-f16 60311 "merge_method: karcher
dtype: float16
parameters:
  max_iter: 10
models:
- model: ../../models/qwen2/ft2
- model: ../../models/qwen2/ft3"
# From tools/fuzz_merges.py (seed 20): karcher computed in float32 and stored as bf16, over slices.
# Float32 karcher takes MKL's sdot and acos/sin/cos, whose last bit no libm reproduces; stored
# narrower, that can move a rounding (1 element in 2 tensors): one ulp of the value is allowed there.
case_ qwen2-karcher-f32-bf16out 56741 "merge_method: karcher
dtype: float32
out_dtype: bfloat16
base_model: ../../models/qwen2/base
parameters:
  max_iter: 10
slices:
- sources:
  - model: ../../models/qwen2/base
    layer_range: [0, 3]
  - model: ../../models/qwen2/ft3
    layer_range: [0, 3]
  - model: ../../models/qwen2/ft1
    layer_range: [0, 3]"
