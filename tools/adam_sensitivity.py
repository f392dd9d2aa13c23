import json, torch, sys
from transformers import AutoModelForCausalLM
from safetensors.torch import load_file
torch.set_num_threads(2)
fam = sys.argv[1]
c = json.load(open(f'fixtures/training/{fam}-sft/case.json'))
inp = c['inputs']
ids = torch.tensor(inp['input_ids']); am = torch.tensor(inp['attention_mask']); lab = torch.tensor(inp['labels'])
def run(noise):
    m = AutoModelForCausalLM.from_pretrained(f'fixtures/models/{fam}/base', torch_dtype=torch.float32, attn_implementation='eager')
    m.train()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, betas=(0.9,0.999), eps=1e-8, weight_decay=0.01, foreach=False)
    from transformers import get_linear_schedule_with_warmup
    sch = get_linear_schedule_with_warmup(opt, 1, 3)
    g = torch.Generator().manual_seed(0)
    for s in range(3):
        opt.zero_grad()
        out = m(input_ids=ids, attention_mask=am, labels=lab)
        out.loss.backward()
        if noise:
            for p in m.parameters():
                p.grad.add_(noise * p.grad.abs().max() * torch.randn(p.grad.shape, generator=g))
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step(); sch.step()
    return {n: p.detach().clone() for n, p in m.named_parameters()}
a = run(0); b = run(float(sys.argv[2]))
exp = load_file(f'fixtures/training/{fam}-adamw/params_after.safetensors')
worst = 0; wn = ''
for n in a:
    bound = 1e-5 * exp[n].abs().max().item() + 1e-7
    r = (a[n] - exp[n]).abs().max().item() / bound
    r2 = (b[n] - exp[n]).abs().max().item() / bound
    if r2 > worst: worst, wn = r2, n
    if r > 1: print('rerun differs', n, r)
print(fam, 'torch with 1e-6 relative gradient noise: worst', worst, wn)
