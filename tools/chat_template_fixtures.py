# Renders the committed chat templates with transformers' own renderer (what apply_chat_template uses),
# writing expected prompts as JSON fixtures. Run with a Python that has transformers: python tools/chat_template_fixtures.py
import json, os, sys
from transformers.utils.chat_template_utils import render_jinja_template

D = os.path.join(os.path.dirname(__file__), '..', 'core', 'src', 'test', 'resources', 'chat-templates')
TOKENS = {
    'llama-3.1': ('<|begin_of_text|>', '<|eot_id|>'),
    'llama-3.2': ('<|begin_of_text|>', '<|eot_id|>'),
    'qwen2.5': (None, '<|im_end|>'),
    'qwen3': (None, '<|im_end|>'),
    'gemma-2': ('<bos>', '<eos>'),
    'gemma-3': ('<bos>', '<eos>'),
    'mistral-nemo': ('<s>', '</s>'),
}
U1 = {'role': 'user', 'content': 'What is the capital of France?'}
A1 = {'role': 'assistant', 'content': '  Paris is the capital.  '}
U2 = {'role': 'user', 'content': '\nAnd of Italy?\n'}
SYS = {'role': 'system', 'content': 'You answer in one word. '}
THINK = {'role': 'assistant', 'content': '<think>\nThe user asks about France.\n</think>\n\nParis.'}
CASES = {
    'one_turn': ([U1], True),
    'one_turn_no_generation_prompt': ([U1], False),
    'system': ([SYS, U1], True),
    'multi_turn': ([U1, A1, U2], True),
    'system_multi_turn': ([SYS, U1, A1, U2], True),
    'thinking_history': ([U1, THINK, U2], True),
    'unicode': ([{'role': 'user', 'content': 'Ça va? 日本語 — “quotes” \'single\' {{ not a tag }}'}], True),
    'thinking_off': ([U1], True, {'enable_thinking': False}),
    'thinking_on': ([U1], True, {'enable_thinking': True}),
}
out = {}
for name, (bos, eos) in TOKENS.items():
    tpl = open(os.path.join(D, name + '.jinja')).read()
    cases = {}
    for cname, (msgs, agp, *extra) in CASES.items():
        extra = extra[0] if extra else {}
        kw = {'bos_token': bos, 'eos_token': eos, 'date_string': '26 Jul 2024', **extra}
        try:
            rendered, _ = render_jinja_template([msgs], chat_template=tpl, add_generation_prompt=agp, **kw)
            cases[cname] = {'messages': msgs, 'add_generation_prompt': agp, 'vars': extra, 'expected': rendered[0]}
        except Exception as e:
            cases[cname] = {'messages': msgs, 'add_generation_prompt': agp, 'vars': extra, 'error': str(e)}
    out[name] = {'bos_token': bos, 'eos_token': eos, 'cases': cases}
json.dump(out, open(os.path.join(D, 'expected.json'), 'w'), indent=1, ensure_ascii=False)
print('wrote', os.path.join(D, 'expected.json'))
