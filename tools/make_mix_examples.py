#!/usr/bin/env python3
"""Writes the small synthetic data sets behind examples/mix-paper.yml and the reader fixtures.

Dev tool (never run by mixmerge): `python3 tools/make_mix_examples.py`. Deterministic; the texts are
harmless placeholders in the shapes of the real data sets (paper-spec §B):
  examples/data/safety.jsonl   preference pairs seeded like Aya Red-teaming (prompt, chosen, rejected,
                               language as a full name, harm_category as a JSON list inside a string,
                               global_or_local, source_id shared by the six translations)
  examples/data/general.jsonl  UltraFeedback Binarized rows (prompt, prompt_id, chosen/rejected/messages as
                               full conversations) with a language code
  fixtures/data/*              one small file per reader: aya_redteaming, aya_evaluation (Dolly), ultrafeedback,
                               alpaca CSV, JSON list, messages
"""
import json, os, random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
rng = random.Random(2024)

LANGS = {  # code: (full name as Aya writes it, ISO 639-3, "question" word, "answer" word, "safe refusal")
    "en": ("English", "eng", "Question", "Answer", "I can't help with that, but here is a safer way to think about it."),
    "hi": ("Hindi", "hin", "प्रश्न", "उत्तर", "मैं इसमें मदद नहीं कर सकता, लेकिन यहाँ एक सुरक्षित विकल्प है।"),
    "fr": ("French", "fra", "Question", "Réponse", "Je ne peux pas aider avec cela, mais voici une approche plus sûre."),
    "es": ("Spanish", "spa", "Pregunta", "Respuesta", "No puedo ayudar con eso, pero aquí hay una alternativa segura."),
    "ar": ("Arabic", "arb", "سؤال", "جواب", "لا أستطيع المساعدة في ذلك، لكن هذه طريقة أكثر أمانًا."),
    "ru": ("Russian", "rus", "Вопрос", "Ответ", "Я не могу с этим помочь, но вот более безопасный путь."),
}
CATEGORIES = ["Bullying & Harassment", "Discrimination & Injustice", "Graphic material", "Hate Speech",
              "Harms of Representation Allocation and Quality of Service", "Profanity", "Self-Harm",
              "Violence, Threats & Incitement", "Non-consensual sexual content"]
TOPICS = ["bread", "rivers", "chess", "gardens", "trains", "music", "weather", "libraries", "bicycles", "tea"]


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def safety_rows(n_prompts):
    rows = []
    for i in range(n_prompts):
        cats = rng.sample(CATEGORIES, rng.choice([1, 1, 2]))
        scope = rng.choice(["global", "global", "local"])
        for code, (name, _, q, a, refusal) in LANGS.items():
            prompt = f"{q} {i}: [placeholder adversarial prompt #{i} about {cats[0]}] ({name})"
            rows.append({
                "prompt": prompt,
                "chosen": refusal + f" ({i})",
                "rejected": f"{a} {i}: [placeholder harmful completion #{i}]",
                "language": name,
                "harm_category": json.dumps(cats),
                "global_or_local": scope,
                "source_id": f"rt-{i:04d}",
            })
    return rows


def general_rows(n_prompts):
    rows = []
    for i in range(n_prompts):
        topic = TOPICS[i % len(TOPICS)]
        pid = f"{rng.getrandbits(64):016x}"
        for code, (name, _, q, a, _) in LANGS.items():
            prompt = f"{q} {i}: tell me something about {topic} ({code})"
            good = f"{a} {i}: a helpful, accurate paragraph about {topic}. " + "More detail. " * rng.randint(1, 12)
            bad = f"{a} {i}: a short unhelpful reply."
            user = {"role": "user", "content": prompt}
            rows.append({
                "prompt": prompt, "prompt_id": pid,
                "chosen": [user, {"role": "assistant", "content": good}],
                "rejected": [user, {"role": "assistant", "content": bad}],
                "messages": [user, {"role": "assistant", "content": good}],
                "score_chosen": 8.0, "score_rejected": 3.5, "language": code,
            })
    return rows


def main():
    write_jsonl(os.path.join(ROOT, "examples/data/safety.jsonl"), safety_rows(24))
    write_jsonl(os.path.join(ROOT, "examples/data/general.jsonl"), general_rows(60))
    d = os.path.join(ROOT, "fixtures/data")
    os.makedirs(d, exist_ok=True)
    # Aya Red-teaming: the exact published field set, one language per file.
    write_jsonl(os.path.join(d, "aya_redteaming_hin.jsonl"), [
        {"prompt": f"प्रश्न {i}: [placeholder red-team prompt]", "language": "Hindi",
         "harm_category": json.dumps([CATEGORIES[i % 9]]) if i % 3 else json.dumps(CATEGORIES[i % 9: i % 9 + 2]),
         "global_or_local": "local" if i % 4 == 0 else "global",
         "literal_translation": f"Question {i}", "semantic_translation": f"Question {i}", "explanation": ""}
        for i in range(6)])
    # Aya evaluation suite, dolly_human_edited shape (ISO 639-3, script, source_id).
    write_jsonl(os.path.join(d, "aya_dolly.jsonl"), [
        {"id": k * 10 + i, "inputs": f"{LANGS[c][2]} {i}: Dolly prompt", "targets": f"{LANGS[c][3]} {i}",
         "language": LANGS[c][1], "script": {"hi": "Deva", "ar": "Arab", "ru": "Cyrl"}.get(c, "Latn"), "source_id": 1000 + i}
        for k, c in enumerate(["hi", "fr", "es", "ar", "ru"]) for i in range(4)])
    write_jsonl(os.path.join(d, "ultrafeedback.jsonl"), general_rows(3)[:6])
    write_jsonl(os.path.join(d, "messages.jsonl"), [
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Hi {i}"},
                      {"role": "assistant", "content": f"Hello {i}"}], "lang": "fr-FR"} for i in range(3)])
    with open(os.path.join(d, "alpaca.csv"), "w", encoding="utf-8", newline="") as f:
        f.write('instruction,input,output,language\n')
        f.write('"Summarise, briefly",The text,"A ""short"" summary",es\n')
        f.write('Translate,"line one\nline two",Traducción,spa\n')
        f.write('Count to three,,1 2 3,Spanish\n')
    with open(os.path.join(d, "list.json"), "w", encoding="utf-8") as f:
        json.dump([{"prompt": "Uno", "completion": "One", "language": "es"},
                   {"prompt": "Deux", "completion": "Two", "language": "fr"}], f, ensure_ascii=False, indent=2)


if __name__ == "__main__":
    main()
