#!/usr/bin/env python3
"""Reference renderings for the Swift `Jinja` target, made by the real jinja2 as transformers configures it.

Writes fixtures/templates/references.json with
  - presets: the Jinja texts of Sources/Merging/Config/ChatTemplates.swift (read from that file), each rendered
    for a few conversations with add_generation_prompt false/true through transformers' own
    `render_jinja_template` (the helper behind `apply_chat_template`, after its None-key normalisation);
  - chat_glue: one template printing what the template sees (messages as JSON, tools, documents, special tokens,
    extra variables), rendered through render_jinja_template for messages with None values and reasoning fields;
  - floats: Python's repr of 1000 doubles (edge values, random values and bit patterns), as IEEE bits in hex;
  - json: JSON texts with json.dumps(json.loads(text), ensure_ascii=False) with and without indent=2;
  - snippets: small templates exercising one feature each (loop variables, filters, whitespace control,
    Python reprs, tojson, slicing, macros, namespace, undefined behaviour, errors), rendered with transformers'
    compiled environment (`_compile_jinja_template`: ImmutableSandboxedEnvironment(trim_blocks=True,
    lstrip_blocks=True, extensions=[AssistantTracker, loopcontrols]) with its tojson, raise_exception,
    strftime_now, dict and namespace).

Run with the venv that has transformers and jinja2:  /work/venv/bin/python tools/make_template_references.py
Dev-only: never used at run time.
"""

import json
import re
import sys
import traceback
from pathlib import Path

import jinja2
import transformers
from transformers.utils.chat_template_utils import _compile_jinja_template, render_jinja_template

ROOT = Path(__file__).resolve().parent.parent
SWIFT_PRESETS = ROOT / "Sources/Merging/Config/ChatTemplates.swift"
OUT = ROOT / "fixtures/templates/references.json"


def swift_presets():
    """The built-in templates of ChatTemplates.swift (Swift multi-line string literals after `"name":`)."""
    text = SWIFT_PRESETS.read_text()
    presets = {}
    for m in re.finditer(r'"(\w+)": """\n(.*?)\n\s*"""', text, re.S):
        name, body = m.group(1), m.group(2)
        lines = body.split("\n")
        indent = min(len(l) - len(l.lstrip(" ")) for l in lines if l.strip())
        literal = "\n".join(l[indent:] for l in lines)
        # Swift string-literal escapes used in the file: \\ and \n, \" .
        value = literal.replace("\\\\", "\x00").replace("\\n", "\n").replace('\\"', '"').replace("\x00", "\\")
        presets[name] = value
    if set(presets) != {"chatml", "llama3", "alpaca", "mistral"}:
        sys.exit(f"unexpected presets in {SWIFT_PRESETS}: {sorted(presets)}")
    return presets


CONVERSATIONS = [
    ("single_user", [{"role": "user", "content": "What is the capital of France?"}]),
    ("system_user", [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi!"},
    ]),
    ("multi_turn", [
        {"role": "user", "content": "  Bonjour \u00e0 tous  "},
        {"role": "assistant", "content": "Hello! \U0001F600"},
        {"role": "user", "content": "Line one\nline two\n"},
    ]),
    ("none_content", [
        {"role": "user", "content": "x", "name": None},
        {"role": "assistant", "content": "y", "tool_calls": None},
    ]),
]

SPECIAL = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}


def render_error(e):
    out = {"raises": True, "error_type": type(e).__name__, "error": str(e)}
    if isinstance(e, jinja2.TemplateSyntaxError):
        out["line"] = e.lineno
    else:
        # jinja2 rewrites tracebacks so that template lines appear as frames of "<template>".
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == "<template>"]
        if frames:
            out["line"] = frames[-1].lineno
    return out


def presets_section():
    out = []
    for name, template in swift_presets().items():
        cases = []
        for conv_name, messages in CONVERSATIONS:
            for agp in (False, True):
                case = {"name": conv_name, "messages": messages, "add_generation_prompt": agp,
                        "special_tokens": SPECIAL}
                normalized = [{k: v for k, v in m.items() if v is not None} for m in messages]
                try:
                    rendered, _ = render_jinja_template(
                        [normalized], chat_template=template, add_generation_prompt=agp, **SPECIAL)
                    case.update({"raises": False, "text": rendered[0]})
                except Exception as e:  # noqa: BLE001 - recorded as the expected outcome
                    case.update(render_error(e))
                cases.append(case)
        out.append({"name": name, "template": template, "cases": cases})
    return out


MSGS = [
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "hello"},
    {"role": "assistant", "content": "hi there"},
    {"role": "user", "content": "bye"},
]
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Météo — 天気",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "n": {"type": "integer"}},
                       "required": ["city"]}}}

# (name, template, context). Context values are JSON.
SNIPPETS = [
    # loops
    ("loop_vars", "{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
     "{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}", {}),
    ("loop_prev_next", "{% for x in [1,2,3] %}[{{ loop.previtem }}-{{ x }}-{{ loop.nextitem }}]"
     "{{ loop.previtem is defined }}{% endfor %}", {}),
    ("loop_cycle", "{% for x in range(5) %}{{ loop.cycle('odd', 'even') }} {% endfor %}", {}),
    ("loop_else", "{% for x in [] %}{{ x }}{% else %}empty{% endfor %}|{% for x in none_list %}x{% else %}u{% endfor %}",
     {}),
    ("loop_filtered", "{% for m in messages if m.role != 'system' %}{{ loop.index }}:{{ m.content }} "
     "{{ loop.length }};{% endfor %}", {"messages": MSGS}),
    ("loop_unpack_items", "{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}|"
     "{% for k, v in d | items %}{{ k }}{% endfor %}|{% for k in d %}{{ k }}{% endfor %}",
     {"d": {"z": 1, "a": [1, 2], "m": None}}),
    ("loop_break_continue", "{% for i in range(10) %}{% if i is odd %}{% continue %}{% endif %}"
     "{% if i > 6 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("loop_scope", "{% set x = 0 %}{% for i in [1,2,3] %}{% set x = x + i %}{{ x }},{% endfor %}{{ x }}", {}),
    ("loop_nested", "{% for a in [1,2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }}"
     "{% endfor %}{{ loop.index }} {% endfor %}", {}),
    ("loop_string_and_tuple_unpack", "{% for a, b in [(1, 2), [3, 4], 'xy'] %}{{ a }}{{ b }};{% endfor %}", {}),
    # conditionals and set
    ("if_elif_else", "{% for n in [0, 1, 2, 3] %}{% if n == 0 %}zero{% elif n == 1 %}one{% elif n is even %}"
     "even{% else %}other{% endif %} {% endfor %}", {}),
    ("set_block", "{% set greeting %}Hello {{ name }}!{% endset %}[{{ greeting }}]{{ greeting | length }}",
     {"name": "Ana"}),
    ("set_tuple", "{% set a, b = 1, 'two' %}{{ a }}{{ b }}{% set t = (1, 2) %}{{ t }}", {}),
    ("set_in_if_leaks", "{% if true %}{% set y = 'in' %}{% endif %}{{ y }}", {}),
    ("namespace", "{% set ns = namespace(count=0, last=none) %}{% for m in messages %}"
     "{% set ns.count = ns.count + 1 %}{% set ns.last = m.role %}{% endfor %}{{ ns.count }} {{ ns.last }}",
     {"messages": MSGS}),
    ("namespace_dict_arg", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns.c is defined }}", {}),
    # macros
    ("macro_defaults", "{% macro tag(name, value='v', sep=': ') %}<{{ name }}{{ sep }}{{ value }}>{% endmacro %}"
     "{{ tag('a') }}{{ tag('b', 2) }}{{ tag('c', sep='=', value=3) }}", {}),
    ("macro_recursive", "{% macro render(v) %}{% if v is mapping %}{{ '{' }}{% for k, x in v.items() %}"
     "{{ k }}:{{ render(x) }}{% if not loop.last %},{% endif %}{% endfor %}{{ '}' }}"
     "{% elif v is iterable and v is not string %}[{% for x in v %}{{ render(x) }}{% endfor %}]"
     "{% else %}{{ v }}{% endif %}{% endmacro %}{{ render(data) }}",
     {"data": {"a": [1, {"b": "c"}], "d": True}}),
    ("macro_sees_globals", "{% macro hi() %}{{ who }}{% endmacro %}{% set who = 'top' %}{{ hi() }}", {}),
    # whitespace control
    ("ws_trim_lstrip", "<ul>\n  {% for x in [1, 2] %}\n    <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n", {}),
    ("ws_dash", "a   {{- ' b ' -}}   c\n  {%- if true -%}\n  d  \n{%- endif %}\ne {#- note -#}  f", {}),
    ("ws_plus", "x\n  {%+ if true %}y{% endif +%}\nz", {}),
    ("ws_comment_line", "a\n  {# a comment #}\nb\n{#- c -#}\n c", {}),
    ("ws_output_not_lstripped", "a\n  {{ 'b' }}\n  {% if true %}c{% endif %}\n", {}),
    ("ws_trailing_newline", "line\n\n", {}),
    ("ws_crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc", {}),
    ("raw_block", "{% raw %}{{ not rendered }} {% if %}{% endraw %}|  {%- raw -%}  x  {%- endraw %}", {}),
    # literals and reprs
    ("literals", "{{ 'a\\n\\tb\\\\' }}|{{ \"q\\\"uote\" }}|{{ 'x' 'y' }}|{{ 42 }}|{{ 1_000 }}|{{ 0x1F }}|{{ 3.5 }}|"
     "{{ 1e3 }}|{{ true }}{{ True }}{{ false }}{{ none }}{{ None }}", {}),
    ("reprs", "{{ ['a', \"b'c\", 1, 2.5, none, true, {'k': [1, (2,)]}] }}|{{ {'x': 'y'} }}|{{ (1,) }}|{{ () }}", {}),
    ("repr_escapes", "{{ ['\\n', '\\x00', '\\u00e9', '\\u2028', 'tab\\t', '\\\\'] }}", {}),
    ("floats", "{{ 1.0 }} {{ 0.1 }} {{ 1/3 }} {{ 10/2 }} {{ 2.5e-5 }} {{ 1e16 }} {{ 1e15 }} {{ 123456789.125 }} "
     "{{ -0.0 }} {{ 3 * 1.1 }}", {}),
    ("json_numbers_print", "{{ x }} {{ y }} {{ z }} {{ x + y }}", {"x": 3, "y": 0.5, "z": 1e100}),
    # arithmetic
    ("arithmetic", "{{ 7 + 3 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} "
     "{{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** 3 ** 2 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ 7.5 % 2 }} {{ -3 }} {{ +3 }}", {}),
    ("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 'a' ~ (1 + 2) }} {{ not 1 == 2 }} "
     "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }}", {}),
    ("concat_tilde", "{{ 'x' ~ 1 ~ none ~ [1] ~ 2.0 ~ true ~ undefined_var }}", {}),
    ("string_ops", "{{ 'ab' * 3 }} {{ [1] * 2 }} {{ [1] + [2] }} {{ 'a' + 'b' }} {{ '%s-%05.1f-%d' % ('x', 3.14159, 7) }}"
     " {{ '%(a)s' % {'a': 1} }} {{ '%r' % 'q' }}", {}),
    ("bool_ops", "{{ 0 or 'x' }} {{ 1 and 'y' }} {{ '' or [] }} {{ none and 1 }} {{ not none }} {{ not [] }}", {}),
    ("conditional_expr", "{{ 'yes' if x else 'no' }} {{ 'a' if not x }}| {{ 1 if false else 2 if true else 3 }}",
     {"x": 0}),
    ("comparisons", "{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 'a' != 'a' }} "
     "{{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }} {{ [1] == (1,) }} {{ none == none }} {{ 2 >= 2.0 }}", {}),
    ("in_operator", "{{ 'a' in 'cat' }} {{ 'z' not in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} "
     "{{ 'tool_calls' in m }} {{ 'x' in undefined_thing }}", {"m": {"role": "user"}}),
    # access
    ("attribute_item_fallback", "{{ m.role }} {{ m['role'] }} {{ m.get('role') }} {{ m.get('x', 'dflt') }} "
     "{{ m.missing is defined }} {{ m['missing'] is defined }} [{{ m.missing }}]", {"m": {"role": "user"}}),
    ("dict_methods_shadow", "{{ d.items() | list }} {{ d['items'] }} {{ d.keys() | list }} {{ d.values() | list }}",
     {"d": {"items": "I", "b": 2}}),
    ("indexing_slicing", "{{ l[0] }} {{ l[-1] }} {{ l[1:3] }} {{ l[:-1] }} {{ l[::2] }} {{ l[::-1] }} {{ l[5:] }} "
     "{{ s[1:4] }} {{ s[-3:] }} {{ s[::-1] }} {{ s[0] }} {{ l.0 }} {{ s[:100] }}",
     {"l": [1, 2, 3, 4], "s": "h\u00e9llo w\u00f6rld"}),
    ("messages_slicing", "{% set rest = messages[1:] %}{{ rest | length }} {{ rest[-1].content }} "
     "{{ (messages | selectattr('role', 'equalto', 'user') | list)[-1].content }}", {"messages": MSGS}),
    # tests
    ("tests_types", "{% for v in [1, 1.5, 'a', [1], {'a': 1}, none, true, (1,)] %}"
     "{{ v is number }}{{ v is integer }}{{ v is float }}{{ v is string }}{{ v is mapping }}{{ v is iterable }}"
     "{{ v is sequence }}{{ v is none }}{{ v is boolean }}{{ v is true }}{{ v is false }}|{% endfor %}", {}),
    ("tests_values", "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }} "
     "{{ 'a' is equalto 'a' }} {{ 1 is eq 1 }} {{ 1 is ne 2 }} {{ 1 is lt 2 }} {{ 2 is le 2 }} {{ 3 is gt 2 }} "
     "{{ 3 is ge 4 }} {{ 2 is in [1, 2] }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'aB' is lower }} "
     "{{ x is defined }} {{ x is undefined }} {{ x is not defined }} {{ not x is defined }} {{ raise_exception is callable }} "
     "{{ 'x' is callable }} {{ none is sameas none }}", {}),
    # filters
    ("filters_strings", "{{ '  hi  ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ 'hello WORLD' | upper }}|{{ 'HeLLo' | lower }}|"
     "{{ 'hello big-world (x)' | title }}|{{ 'hELLO world' | capitalize }}|{{ 'aaa' | replace('a', 'b', 2) }}|"
     "{{ 'abc' | center(9) }}|{{ 'ab' | center(7) }}|{{ 'one two  three' | wordcount }}|{{ 'x' | string }}|"
     "{{ 12 | string }}|{{ 'abc' | reverse }}", {}),
    ("filters_sequences", "{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) }} "
     "{{ [3, 1, 2] | sort(reverse=true) }} {{ [1, 2, 2, 'a', 'A'] | unique | list }} {{ [1, 2, 3] | first }} "
     "{{ [1, 2, 3] | last }} {{ [1, 2, 3] | sum }} {{ [1, 2, 3] | min }} {{ [1, 2, 3] | max }} {{ ['b', 'A'] | max }} "
     "{{ [1, 2, 3] | reverse | list }} {{ 'abc' | list }} {{ [1, 2, 3, 4, 5] | batch(2) | list }} "
     "{{ [1, 2, 3] | batch(2, 0) | list }} {{ [1, 2] | join }} {{ [1, 'a'] | join(', ') }} {{ [] | first is defined }}", {}),
    ("filters_attr", "{{ users | map(attribute='name') | join(',') }} {{ users | sort(attribute='age') | map(attribute='name') | list }} "
     "{{ users | selectattr('admin') | map(attribute='name') | list }} {{ users | rejectattr('admin') | list | length }} "
     "{{ users | selectattr('age', 'gt', 30) | map(attribute='name') | first }} {{ users | sum(attribute='age') }} "
     "{{ users | map(attribute='missing', default='?') | list }} {{ users | join(', ', attribute='name') }} "
     "{{ users | max(attribute='age') }} {{ users | unique(attribute='admin') | list | length }}",
     {"users": [{"name": "Bo", "age": 41, "admin": True}, {"name": "al", "age": 23, "admin": False},
                {"name": "Cy", "age": 35, "admin": False}]}),
    ("filters_select_reject", "{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('odd') | list }} "
     "{{ ['a', 'code_interpreter', 'b'] | reject('equalto', 'code_interpreter') | join(', ') }} "
     "{{ [0, 1, '', 'x', none] | select | list }} {{ ['a', 'B'] | map('upper') | list }} "
     "{{ [1, 2] | map('string') | join('-') }}", {}),
    ("filters_numbers", "{{ -3 | abs }} {{ 2.7 | int }} {{ '42' | int }} {{ 'x' | int(7) }} {{ '3.5' | float }} "
     "{{ 3 | float }} {{ 2.675 | round(2) }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.1 | round(0, 'ceil') }} "
     "{{ 2.9 | round(method='floor') }} {{ 7 | round }} {{ '0x1A' | int(0, 16) }} {{ 1.25 | round(1) }}", {}),
    ("filters_default", "{{ x | default('dflt') }} {{ '' | default('e') }} {{ '' | default('e', true) }} "
     "{{ none | d('n') }} {{ none | d('n', boolean=true) }} {{ m.content | default('none here') }}",
     {"m": {"role": "user"}}),
    ("filters_length", "{{ 'héllo' | length }} {{ [1, 2] | count }} {{ {'a': 1} | length }} {{ undefined_x | length }}", {}),
    ("filters_dict", "{{ d | dictsort }} {{ d | dictsort(reverse=true) }} {{ d | dictsort(by='value') }} {{ d | items | list }}",
     {"d": {"b": 1, "A": 3, "c": 2}}),
    ("filters_indent_truncate", "[{{ 'a\\nb\\n\\nc' | indent(2) }}] [{{ 'a\\nb' | indent(2, true) }}] "
     "[{{ 'a\\n\\nb' | indent(width='> ', blank=true) }}] [{{ 'The quick brown fox jumps over' | truncate(18) }}] "
     "[{{ 'The quick brown fox jumps' | truncate(12, true) }}] [{{ 'short' | truncate(3, leeway=0, end='.') }}]", {}),
    ("filters_escape_safe", "{{ '<a href=\"x\">&\\'</a>' | e }} {{ '<b>' | escape }} {{ '<i>' | safe }}", {}),
    ("filter_block", "{% filter upper %}hello {{ name }}{% endfilter %}|{% filter trim | title %}  a b  {% endfilter %}",
     {"name": "x"}),
    ("filter_binds_tighter", "{{ m.content | trim + '<|eot|>' }}{{ 'a' ~ ' b ' | trim }}", {"m": {"content": "  c  "}}),
    ("format_filter", "{{ '%s and %s' | format('a', 1) }} {{ '%-5s|' | format('ab') }} {{ '%x %o %e' | format(255, 8, 1234.5) }}", {}),
    # tojson
    ("tojson_basic", "{{ v | tojson }}", {"v": {"z": 1, "a": [1.5, True, None, "é\"\\\n\u0001"], "n": {}, "l": []}}),
    ("tojson_indent", "{{ tool | tojson(indent=4) }}\n{{ tool | tojson(indent=2) }}\n{{ [] | tojson(indent=2) }}",
     {"tool": TOOL}),
    ("tojson_options", "{{ d | tojson(sort_keys=true) }} {{ d | tojson(separators=(',', ':')) }} "
     "{{ d | tojson(ensure_ascii=true) }} {{ (1, 'x') | tojson }} {{ 'str' | tojson }} {{ 1.0 | tojson }} "
     "{{ 10000000000000000.0 | tojson }}", {"d": {"b": "ü😀", "a": 1}}),
    ("tojson_int_float", "{{ [1, 1.0, 0.1, -2, 1e-7, 1e22, 1234567890123456789, -9223372036854775807] | tojson }}", {}),
    # string methods
    ("str_methods", "{{ '  x  '.strip() }}|{{ '  x  '.lstrip() }}|{{ '  x  '.rstrip() }}|{{ 'xxyxx'.strip('x') }}|"
     "{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}|"
     "{{ 'hello'.startswith('he') }}{{ 'hello'.endswith(('x', 'lo')) }}|{{ 'hello world'.title() }}|"
     "{{ 'hello'.capitalize() }}|{{ 'a-b-c'.replace('-', '+') }}|{{ 'hello'.find('l') }}{{ 'hello'.find('z') }}|"
     "{{ 'hello'.count('l') }}|{{ ', '.join(['a', 'b']) }}|{{ '{} is {}'.format('x', 1) }}|"
     "{{ '{0}{1}{0}'.format('a', 'b') }}|{{ '{name}!'.format(name='N') }}|{{ 'a\\nb\\r\\nc'.splitlines() }}|"
     "{{ 'ABC'.lower() }}{{ 'abc'.upper() }}|{{ '42'.isdigit() }}{{ 'x1'.isalpha() }}|{{ 'é'.upper() }}", {}),
    ("list_methods", "{{ [1, 2, 3, 2].index(2) }} {{ [1, 2, 3, 2].count(2) }} {{ 'abc'.index('c') }}", {}),
    # globals
    ("dict_global", "{{ dict(a=1, b='x') }} {{ dict({'z': 1}, y=2) }} {{ dict([('k', 'v')]) }}", {}),
    ("range_global", "{{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ range(5, 0, -2) | list }} {{ range(0) | list }}", {}),
    ("with_block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a is defined }}", {}),
    ("generation_block", "x{% generation %}gen {{ 1 }}{% endgeneration %}y", {}),
    ("unicode_text", "{{ s }}|{{ s | length }}|{{ s | upper }}|{{ s[2] }}|{{ s | reverse }}",
     {"s": "naïve café 日本 😀 e\u0301"}),
    # more edge cases
    ("ws_lstrip_after_output", "{{ 'a' }}   {% if true %}b{% endif %}\n  {%- if true %} c{% endif %}", {}),
    ("ws_lstrip_tabs_and_unicode_space", "x\n\t {% if true %}y{% endif %}\n\u00a0{% if true %}z{% endif %}", {}),
    ("ws_trim_only_one_newline", "{% if true %}\n\nA{% endif %}\n\nB", {}),
    ("ws_comment_trim", "a {# c #}\nb\n    {# indented #}\nc", {}),
    ("ws_dash_on_output_keeps_block_rules", "a\n    {{- 'b' }}\n    {% if true -%}\n   c\n{%- endif %}", {}),
    ("ws_minus_inside_expression", "{{ 5 - 3 }}|{{ 5 -3 }}|{{ x -}} y", {"x": 1}),
    ("ws_block_end_newline_crlf", "{% for i in [1,2] %}\r\n{{ i }}\r\n{% endfor %}", {}),
    ("ws_text_only_newlines", "\n\n", {}),
    ("ws_raw_lstrip", "a\n    {% raw %}x{% endraw %}\nb", {}),
    ("strings_escapes_more", "{{ '\\x41\\u00e9\\U0001F600\\101\\q\\'' }}|{{ \"a\\\nb\" }}|{{ 'tab\\there' | length }}", {}),
    ("print_tuple_expression", "{{ 1, 'a' }}", {}),
    ("nested_data_repr", "{{ m }}", {"m": {"role": "tool", "content": [{"type": "text", "text": "it's \"q\""}],
                                          "n": 1.5, "ok": True, "no": None}}),
    ("repr_quotes", "{{ [\"it's\", 'say \"hi\"', \"both ' and \\\"\"] }}", {}),
    ("int_float_mix", "{{ 3 + 0.5 }} {{ true + true }} {{ 10 / 4 }} {{ 2 ** 0.5 }} {{ 1e300 * 1e300 }} {{ -1e300 * 1e300 }} "
     "{{ 7 // 2.0 }} {{ 5 % -3 }} {{ -5 % 3.0 }} {{ 0.1 * 3 }}", {}),
    ("comparison_chain_types", "{{ 1 < 2.5 }} {{ 'B' < 'a' }} {{ 'é' > 'z' }} {{ (1, 2) < (1, 2, 0) }} {{ [] == [] }} "
     "{{ {} == {} }} {{ 1 == '1' }} {{ none != false }}", {}),
    ("truthiness", "{% for v in [0, 0.0, '', [], {}, none, 'x', [0], 1] %}{{ 'T' if v else 'F' }}{% endfor %}", {}),
    ("selectattr_equalto_messages", "{% for m in messages | selectattr('role', 'equalto', 'user') %}{{ m.content }},"
     "{% endfor %}{{ messages | selectattr('role', 'ne', 'user') | map(attribute='role') | join('/') }}",
     {"messages": MSGS}),
    ("rejectattr_defined", "{{ items | rejectattr('x', 'defined') | list | length }} {{ items | selectattr('x', 'defined') | list }}",
     {"items": [{"x": 1}, {"y": 2}, {"x": None}]}),
    ("map_nested_attribute", "{{ calls | map(attribute='function.name') | join(', ') }} {{ calls | map(attribute='0') | list }}",
     {"calls": [{"function": {"name": "a"}}, {"function": {"name": "b"}}]}),
    ("list_of_strings_contains", "{{ 'x' in ['x', 'y'] }} {{ ['x'] in [['x']] }} {{ 1.0 in [1] }}", {}),
    ("items_on_list_error", "{{ [1, 2] | items | list }}", {}),
    ("length_of_number_error", "{{ 5 | length }}", {}),
    ("loop_over_string_chars", "{% for c in 'añ😀' %}[{{ c }}]{% endfor %}", {}),
    ("loop_over_dict_values", "{% for v in d.values() %}{{ v }}{% endfor %}{% for k, v in d | dictsort %}{{ k }}{% endfor %}",
     {"d": {"b": 2, "a": 1}}),
    ("loop_variable_shadow", "{% set x = 'outer' %}{% for x in [1, 2] %}{{ x }}{% endfor %}{{ x }}", {}),
    ("loop_inner_loop_var_outer", "{% for a in [1, 2] %}{% set outer = loop %}{% for b in [1] %}{{ outer.index }}"
     "{{ loop.index }}{% endfor %}{% endfor %}", {}),
    ("loop_last_with_filter", "{% for m in messages if m.role == 'user' %}{{ m.content }}{% if not loop.last %}+{% endif %}"
     "{% endfor %}", {"messages": MSGS}),
    ("namespace_in_macro", "{% set ns = namespace(n=0) %}{% macro bump() %}{% set ns.n = ns.n + 1 %}{% endmacro %}"
     "{{ bump() }}{{ bump() }}{{ ns.n }}", {}),
    ("macro_caller_args_missing", "{% macro m(a, b) %}[{{ a }}|{{ b }}|{{ b is defined }}]{% endmacro %}{{ m(1) }}", {}),
    ("macro_too_many_args", "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", {}),
    ("macro_returns_string", "{% macro m() %}x{% endmacro %}{{ m() | length }} {{ m() ~ 'y' }} {{ m() + 'z' }}", {}),
    ("set_then_messages_reassigned", "{% set messages = messages[1:] %}{{ messages | length }}{{ messages[0].role }}",
     {"messages": MSGS}),
    ("strftime_type", "{{ strftime_now('%Y') | length }} {{ strftime_now('%Y-%m-%d') | length }}", {}),
    ("string_format_spec", "{{ '{:>5}|{:<5}|{:^5}|{:05d}|{:.2f}|{:,}' .format('a', 'b', 'c', 42, 3.14159, 1234567) }}", {}),
    ("percent_format_more", "{{ '%5.2f|%-4d|%+d|%03d|%s' % (3.14159, 7, 5, 9, [1]) }} {{ '%.3s' % 'abcdef' }} {{ '100%%' % () }}", {}),
    ("split_edge", "{{ ''.split() }} {{ ''.split(',') }} {{ 'a  b'.split(' ') }} {{ '  a b  '.rsplit(None, 1) }} "
     "{{ 'a\\tb\\nc'.split() }}", {}),
    ("strip_unicode_whitespace", "[{{ '\\u3000 x \\u00a0\\n' | trim }}][{{ '\\u200b x'.strip() }}]", {}),
    ("upper_lower_unicode", "{{ 'straße' | upper }} {{ 'İstanbul' | lower | length }} {{ 'ǆ' | title }} {{ 'hello world'.title() }} "
     "{{ \"they're bill's\".title() }} {{ \"they're bill's\" | title }}", {}),
    ("join_non_strings", "{{ [1, none, true, 2.5] | join('|') }} {{ ['a', ['b']] | join }}", {}),
    ("join_method_type_error", "{{ ', '.join([1, 2]) }}", {}),
    ("sum_floats_and_start", "{{ [0.1, 0.2] | sum }} {{ [1, 2] | sum(start=10) }} {{ [[1], [2]] | sum(start=[]) }}", {}),
    ("sort_mixed_error", "{{ [1, 'a'] | sort }}", {}),
    ("sort_stable_and_tuples", "{{ [(2, 'b'), (1, 'z'), (2, 'a')] | sort }} {{ ['b', 'B', 'a'] | sort }} "
     "{{ ['b', 'B', 'a'] | unique | list }}", {}),
    ("dictsort_case", "{{ {'b': 1, 'B': 2, 'a': 3} | dictsort }} {{ {'b': 1, 'B': 2, 'a': 3} | dictsort(true) }}", {}),
    ("first_last_strings", "{{ 'abc' | first }} {{ 'abc' | last }} {{ {'k': 1, 'j': 2} | first }}", {}),
    ("batch_and_slice_lists", "{{ range(7) | batch(3, 'x') | map('join', ',') | join(';') }}", {}),
    ("wordcount_unicode", "{{ 'héllo wörld, 日本 x_y 42' | wordcount }}", {}),
    ("center_odd", "[{{ 'abc' | center(6) }}][{{ 'ab' | center(5) }}][{{ 'x' | center(0) }}]", {}),
    ("tojson_in_string_context", "{{ '{\"name\": \"' + tool.function.name + '\", \"arguments\": ' + (args | tojson) + '}' }}",
     {"tool": TOOL, "args": {"city": "Zürich", "days": [1, 2], "deep": {"ok": True}}}),
    ("tojson_nested_indent_empty", "{{ {'a': [], 'b': {}, 'c': [{}], 'd': [1, [2, []]]} | tojson(indent=1) }}", {}),
    ("tojson_string_indent", "{{ {'a': [1]} | tojson(indent='\\t') }}", {}),
    ("tojson_special_floats", "{{ [1e309, -1e309] | tojson }} {{ (1e309 - 1e309) | tojson }}", {}),
    ("is_string_on_content_list", "{% for m in ms %}{{ m.content is string }}{{ m.content is iterable }}"
     "{{ m.content is sequence }}{{ m.content is mapping }};{% endfor %}",
     {"ms": [{"content": "x"}, {"content": [{"type": "text"}]}, {"content": {"a": 1}}, {}]}),
    ("undefined_is_tests", "{{ u is iterable }}{{ u is sequence }}{{ u is none }}{{ u is string }}{{ u is number }}"
     "{{ u is callable }}{{ u is mapping }}", {}),
    ("undefined_comparisons", "{{ u == none }} {{ u != 1 }} {{ u in [1] }} {{ u | default(5) + 1 }}", {}),
    ("undefined_less_than", "{{ u < 1 }}", {}),
    ("undefined_iteration_attr", "{% for x in u.items() %}{% endfor %}", {}),
    ("undefined_call", "{{ u() }}", {}),
    ("undefined_in_if_ok", "{% if u %}yes{% else %}no{% endif %}{% if u.x is defined %}{% endif %}", {}),
    ("none_attribute", "{{ n.x is defined }}[{{ n.x }}]", {"n": None}),
    ("none_attribute_concat", "{{ n.x + 'a' }}", {"n": None}),
    ("int_attribute", "[{{ (5).real }}]", {}),
    ("get_with_default_none", "[{{ d.get('missing') }}][{{ d.get('missing') is none }}]", {"d": {}}),
    ("conditional_expr_undefined_else", "[{{ 'a' if false }}][{{ ('a' if false) is defined }}]", {}),
    ("raise_with_concat", "{{ raise_exception('Bad role: ' + messages[0].role) }}", {"messages": MSGS}),
    ("raise_in_macro_line", "{% macro check(m) %}\n{% if m.role == 'system' %}\n{{ raise_exception('no system') }}\n"
     "{% endif %}\n{% endmacro %}\n{{ check(messages[0]) }}", {"messages": MSGS}),
    ("loop_cycle_outside_error", "{{ loop.cycle(1, 2) }}", {}),
    ("break_continue_in_filtered", "{% for i in range(10) if i is even %}{% if i == 6 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("for_else_with_filter_none_pass", "{% for i in [1, 3] if i is even %}{{ i }}{% else %}none even{% endfor %}", {}),
    ("dict_literal_trailing_comma", "{{ {'a': 1,} }} {{ [1, 2,] }} {{ (1, 2,) }}", {}),
    ("string_concat_adjacent_and_filters", "{{ 'a' 'b' | upper }}", {}),
    ("filter_on_negative", "{{ -3 | abs }} {{ -(3 | abs) }} {{ - 2.5 | round }}", {}),
    ("not_precedence", "{{ not true == false }} {{ not 1 in [1] }} {{ not 'a' is string }} {{ (not true) == false }}", {}),
    ("is_not_defined_chain", "{{ x is not defined and y is not defined }} {{ x is defined or 'fallback' }}", {"y": 1}),
    ("in_dict_keys_and_values", "{{ 'a' in d.keys() }} {{ 1 in d.values() }} {{ ('a', 1) in d.items() }}", {"d": {"a": 1}}),
    ("string_multiply_in_loop", "{% for i in range(3) %}{{ '-' * i }}|{% endfor %}", {}),
    ("int_filter_edge", "{{ '  12  ' | int }} {{ '1_000' | int }} {{ '3.9' | int }} {{ true | int }} {{ none | int }} {{ '-0x10' | int(0, 16) }}", {}),
    ("float_filter_edge", "{{ ' 1e3 ' | float }} {{ 'inf' | float }} {{ 'abc' | float(1.5) }} {{ '1_0.5' | float }} {{ true | float }}", {}),
    ("round_negative_precision", "{{ 1234.5678 | round(-2) }} {{ 2.5 | round(0, 'floor') }} {{ 1.005 | round(2) }} {{ 0.125 | round(2) }}", {}),
    ("indent_first_blank_markup", "{{ 'a\\n\\nb\\n' | indent(3, first=true, blank=true) }}|", {}),
    ("truncate_variants", "{{ 'a b c d e f g h i j k l' | truncate(10) }}|{{ 'abcdefghijklmnopq' | truncate(10) }}|"
     "{{ 'abcdefghijklmnop' | truncate(10, end='') }}|{{ 'hello world' | truncate(8, leeway=3) }}", {}),
    ("replace_empty_old", "{{ 'abc' | replace('', '-') }} {{ 'abc'.replace('', '-', 2) }}", {}),
    ("count_string_method_overlap", "{{ 'aaaa'.count('aa') }} {{ 'abc'.count('') }} {{ 'aaaa' | replace('aa', 'b') }}", {}),
    ("startswith_tuple_endswith", "{{ 'hello'.startswith(('x', 'he')) }} {{ 'hello'.endswith('') }} {{ ''.startswith('') }}", {}),
    ("find_unicode_index", "{{ 'héllo'.find('l') }} {{ '😀ab'.find('b') }} {{ 'abcabc'.rfind('b') }}", {}),
    ("splitlines_variants", "{{ 'a\\r\\nb\\rc\\n\\nd\\x0ce'.splitlines() }} {{ 'x\\n'.splitlines(true) }}", {}),
    ("string_slice_negative_step", "{{ 'abcdef'[4:1:-1] }} {{ 'abcdef'[-2:] }} {{ 'abcdef'[:-7] }} {{ [1, 2, 3][-5:2] }}", {}),
    ("list_index_bool", "{{ [10, 20][true] }} {{ [10, 20][false] }}", {}),
    ("big_loop_length", "{{ range(1000) | list | length }} {% for i in range(1000) if i % 100 == 0 %}{{ i }},{% endfor %}", {}),
    ("unknown_filter_in_untaken_if", "{% if false %}{{ x | from_json }}{% endif %}{{ 'a' if true else x | nope }}ok", {}),
    ("unknown_filter_in_taken_if", "{% if true %}\n{{ x | from_json }}{% endif %}", {}),
    ("unknown_test_in_untaken_elif", "{% if true %}a{% elif x is frob %}b{% endif %}", {}),
    ("unknown_filter_in_loop_inside_if", "{% if false %}{% for x in y %}{{ x | nope }}{% endfor %}{% endif %}", {}),
    ("unknown_filter_after_syntax_error", "{{ x | nope }}\n{{ 1 + }}", {}),
    ("tojson_positional_is_ensure_ascii", "{{ {'a': 'é'} | tojson(2) }} {{ {'a': 'é'} | tojson(false, 1) }}", {}),
    ("tojson_indent_zero_and_bool", "{{ [1, {'a': 2}] | tojson(indent=0) }}|{{ [1] | tojson(indent=true) }}", {}),
    ("error_line_in_multiline_tag", "{%- set x = 1 %}\n{{- 'a' +\n   'b' +\n   x }}", {}),
    ("error_line_in_loop_body", "{% for m in messages %}\n  {% if loop.last %}\n    {{ m.content + 1 }}\n  {% endif %}\n{% endfor %}",
     {"messages": MSGS}),
    ("int_literal_prefixes", "{{ 0o17 }} {{ 0b101 }} {{ 0xff_ff }} {{ 1_000_000 }} {{ 1.5e3 }} {{ 2E-2 }}", {}),
    ("split_maxsplit_whitespace", "{{ ' a  b  c '.split(None, 0) }} {{ ' a  b  c '.split(None, 1) }} {{ ' a  b  c '.rsplit(None, 1) }} "
     "{{ 'a,b,c'.split(',', 0) }} {{ 'a,b,c'.rsplit(',', 0) }} {{ ''.rsplit() }}", {}),
    ("percent_hex_negative", "{{ '%x|%X|%o|%5x' % (-255, 255, 8, 255) }}", {}),
    # undefined behaviour
    ("undefined_print_and_filter", "[{{ nothing }}][{{ nothing | trim }}][{{ nothing | length }}][{{ nothing | list }}]"
     "[{% for x in nothing %}x{% endfor %}][{{ nothing is defined }}][{{ nothing == nothing }}][{{ not nothing }}]", {}),
    ("undefined_concat", "{{ 'x' + nothing }}", {}),
    ("undefined_missing_key_concat", "{{ 'x' + m.content }}", {"m": {"role": "assistant"}}),
    ("undefined_missing_item_concat", "{{ m['content'] + 'x' }}", {"m": {"role": "assistant"}}),
    ("undefined_list_element", "{{ l[5] + 1 }}", {"l": [1]}),
    ("undefined_attribute_of_undefined", "{{ nothing.attr }}", {}),
    ("undefined_tojson", "{{ nothing | tojson }}", {}),
    # errors
    ("raise_exception", "{% if messages[0].role != 'user' %}{{ raise_exception('Roles must start with user!') }}{% endif %}ok",
     {"messages": MSGS}),
    ("type_error_concat", "{{ 'a' + 1 }}", {}),
    ("type_error_int_plus_str", "{{ 1 + 'a' }}", {}),
    ("type_error_list_plus_str", "{{ [1] + 'a' }}", {}),
    ("zero_division", "{{ 1 / 0 }}", {}),
    ("unsafe_append", "{% set l = [1] %}{{ l.append(2) }}", {}),
    ("not_iterable", "{% for x in 5 %}{% endfor %}", {}),
    ("syntax_unterminated_tag", "line one\n{{ oops ", {}),
    ("syntax_unterminated_block", "a\n{% if x %}\nb", {}),
    ("syntax_unknown_tag", "{% frobnicate %}", {}),
    ("syntax_bad_expression", "{{ 1 + }}", {}),
    ("syntax_unterminated_comment", "a {# no end", {}),
    ("tilde_binds_tighter_than_plus", "{{ 'a' ~ 1 + 2 }}", {}),
    ("unknown_filter", "x\n{{ 'a' | xmlattr }}", {}),
    ("unknown_filter_name", "{{ 'a' | frobnicate }}", {}),
    ("unknown_test", "{{ 1 is frobbed }}", {}),
]


def snippets_section():
    out = []
    for name, template, context in SNIPPETS:
        case = {"name": name, "template": template, "context": context}
        try:
            compiled = _compile_jinja_template(template)
            case.update({"raises": False, "text": compiled.render(**context)})
        except Exception as e:  # noqa: BLE001 - recorded as the expected outcome
            case.update(render_error(e))
        out.append(case)
    return out


GLUE_TEMPLATE = ("{{ messages | tojson }}|{{ tools is defined }}{{ tools is none }}|{{ tools | tojson }}|{{ documents }}|"
                 "{{ bos_token }}|{{ eos_token }}|{{ unk_token is defined }}|{{ add_generation_prompt }}|{{ extra_var }}")
GLUE_CASES = [
    ("none_keys_dropped", [{"role": "user", "content": "x", "name": None},
                           {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": {"a": None}}}]}],
     None, {}),
    ("reasoning_aliases", [{"role": "user", "content": "q"},
                           {"role": "assistant", "content": "a", "reasoning_content": "r1"},
                           {"role": "assistant", "thinking": "t2", "content": "b"},
                           {"role": "assistant", "content": "c", "reasoning": "r3", "thinking": None}],
     None, {}),
    ("tools_given", [{"role": "user", "content": "w"}], [TOOL], {"extra_var": {"k": [1, 2]}}),
    ("extra_overrides_token", [{"role": "user", "content": "w"}], None, {"bos_token": "<BOS>"}),
]


def glue_section():
    """What apply_chat_template does around the template: None keys dropped, reasoning aliases, tools/documents."""
    out = []
    for name, messages, tools, extra in GLUE_CASES:
        normalized = [{k: v for k, v in m.items() if v is not None} for m in messages]
        kwargs = {"bos_token": "<s>", "eos_token": "</s>", **extra}
        rendered, _ = render_jinja_template([normalized], tools=tools, chat_template=GLUE_TEMPLATE,
                                            add_generation_prompt=True, **kwargs)
        out.append({"name": name, "messages": messages, "tools": tools, "extra": extra,
                    "special_tokens": {"bos_token": "<s>", "eos_token": "</s>"}, "text": rendered[0]})
    return {"template": GLUE_TEMPLATE, "cases": out}


def floats_section():
    """Python's float repr for edge values and random bit patterns: [hex of the IEEE bits, repr(x)]."""
    import math
    import random
    import struct
    rng = random.Random(20261203)
    values = [0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1 / 3, 2 / 3, 1e-4, 1e-5, 9.999e-5, 1e15, 1e16, 9999999999999998.0,
              1.7976931348623157e308, 5e-324, 2.2250738585072014e-308, 123456789.125, 3.3000000000000003,
              1e22, 1e23, 0.30000000000000004, 100.0, 1234.5, 2.5e-05, 4.35, 0.001, 12345678901234567.0]
    values += [rng.uniform(-1000, 1000) for _ in range(300)]
    values += [rng.uniform(0, 1) * 10 ** rng.randint(-30, 30) for _ in range(300)]
    while len(values) < 1000:
        x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if math.isfinite(x):
            values.append(x)
    return [[struct.pack(">d", x).hex(), repr(x)] for x in values]


JSON_TEXTS = [
    '{"z": 1, "a": {"y": [1, 2.50, -0.0, 1e2, 1E-7, true, false, null], "b": ""}, "m": "\\u00e9\\n\\ud83d\\ude00"}',
    '[]', '{}', '[{}, [], [[]], {"a": {}}]', '"\\u0000\\u001f\\"\\\\/\\b\\f\\r\\t"', '-12', '123456789012',
    '{"dup": 1, "dup": 2, "other": 3}', '  [1 ,\n 2 ] ', '{"émoji 😀": "日本語", "k": [0.1, 1.5e300, -5e-324]}',
]


def json_section():
    out = []
    for text in JSON_TEXTS:
        value = json.loads(text)
        out.append({"input": text,
                    "dumps": json.dumps(value, ensure_ascii=False),
                    "dumps_indent_2": json.dumps(value, ensure_ascii=False, indent=2)})
    return out


def main():
    data = {
        "how": "presets: transformers.utils.chat_template_utils.render_jinja_template (what apply_chat_template "
               "calls after dropping None-valued message keys) with the special tokens as keyword arguments; "
               "snippets: transformers' _compile_jinja_template(template).render(**context). raises: the error "
               "type and message jinja2 gave.",
        "versions": {"jinja2": jinja2.__version__, "transformers": transformers.__version__,
                     "python": sys.version.split()[0]},
        "presets": presets_section(),
        "snippets": snippets_section(),
        "chat_glue": glue_section(),
        "floats": floats_section(),
        "json": json_section(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    n_raise = sum(c["raises"] for c in data["snippets"])
    print(f"wrote {OUT}: {len(data['presets'])} presets, {len(data['snippets'])} snippets ({n_raise} raise)")


if __name__ == "__main__":
    main()
