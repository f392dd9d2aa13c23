"""Makes fixtures/sort/argsort.json: torch's CPU unstable argsort (dim=1, ascending and descending)
of rows with many tied values, the orders DELLA's ranks (ascending), TIES's top-k (descending) and
breadcrumbs' band (ascending) come from. Referee for Tensors.IntroSort.

    python tools/make_sort_fixture.py   # needs torch
"""
import json
import torch

torch.manual_seed(20261130)
cases = []
for rows, n, levels in [(4, 1, 4), (4, 2, 2), (6, 16, 3), (6, 17, 3), (4, 33, 5), (3, 100, 8),
                        (3, 257, 4), (2, 1000, 16), (1, 4096, 64), (1, 6000, 200)]:
    x = (torch.randn(rows, n) * levels).round() / levels
    for dtype in (torch.bfloat16, torch.float32):
        keys = x.to(dtype).abs()
        order = torch.argsort(keys, dim=1)
        cases.append({"dtype": str(dtype).replace("torch.", ""), "rows": [
            {"keys": keys[r].float().tolist(), "order": order[r].tolist()} for r in range(rows)]})
        order = torch.argsort(keys, dim=1, descending=True)
        cases.append({"dtype": str(dtype).replace("torch.", ""), "descending": True, "rows": [
            {"keys": keys[r].float().tolist(), "order": order[r].tolist()} for r in range(rows)]})
# Adversarial-ish rows: sorted, reversed, all equal, organ pipe.
for row in [list(range(300)), list(range(300))[::-1], [1.0] * 300, list(range(150)) + list(range(150))[::-1]]:
    keys = torch.tensor(row, dtype=torch.float32).reshape(1, -1)
    cases.append({"dtype": "float32", "rows": [{"keys": keys[0].tolist(), "order": torch.argsort(keys, dim=1)[0].tolist()}]})
    cases.append({"dtype": "float32", "descending": True, "rows": [
        {"keys": keys[0].tolist(), "order": torch.argsort(keys, dim=1, descending=True)[0].tolist()}]})
with open("fixtures/sort/argsort.json", "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))

# fixtures/sort/topk.json: torch's CPU topk (sce's selection by variance) on 1-D rows full of ties,
# with k on both sides of its k·64 ≤ n switch (std::partial_sort up to it, std::nth_element above).
topk_rows = []
for n, levels in [(1, 4), (5, 2), (40, 3), (100, 5), (300, 8), (1000, 16), (4096, 64), (20000, 100)]:
    x = ((torch.randn(n) * levels).round() / levels).abs()
    for dtype in (torch.bfloat16, torch.float32):
        keys = x.to(dtype)
        selections = []
        for k in sorted({1, max(1, n // 64), n // 64 + 1, max(1, n // 5), max(1, n // 3), n - 1 if n <= 1000 else 1} - {0}):
            for largest in (True, False):
                _, idx = torch.topk(keys, k, largest=largest)
                selections.append({"k": k, "largest": largest, "indices": idx.tolist()})
        topk_rows.append({"dtype": str(dtype).replace("torch.", ""), "keys": keys.float().tolist(), "selections": selections})
with open("fixtures/sort/topk.json", "w") as f:
    json.dump({"torch": torch.__version__, "rows": topk_rows}, f, separators=(",", ":"))
