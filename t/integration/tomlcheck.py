#!/usr/bin/python3
"""tomlcheck.py DECODER -- lib/toml.c (through t/toml-decode) against
Python's tomllib, the reference here.  Prints TAP.

Hand-written documents, valid and invalid, grouped by what they test;
a seeded random generator that builds valid documents from the grammar
(the same documents on every run); a few documents where TOML 1.0.0
and tomllib part ways, with what the spec says; and the line and
column of a few errors.

A valid document must decode (exit 0, nothing on stderr) to what
tomllib makes of it, in tagged form, keys in the same (file) order:
integers by value, floats by value and sign (nan by nan-ness),
date-times by value with the fraction cut to tomllib's microseconds
(the decoder keeps it as written), and date-times in RFC 3339 form
with 'T' and 'Z' upper case.  An invalid one must be refused by tomllib
(else the case itself is wrong) and by the decoder: exit 1 with
"line L, column C: what" on stderr.  A sanitizer report fails the case
either way.  One TAP line per group; each failing case is named in the
diagnostics after it.
"""
import calendar
import concurrent.futures
import datetime
import json
import math
import os
import random
import re
import subprocess
import sys
import tomllib

RANDOM_SEED = 20241201
RANDOM_DOCS = 300
RANDOM_BATCH = 15
BATCH = 16
STANDALONE = ("layout",)
MAX_DIAG = 15

# --- the hand-written cases ----------------------------------------------
# Each a str (UTF-8 encoded for the decoder) or bytes (sent as they are).

PI = ("3.14159265358979323846264338327950288419716939937510582097494459"
      "2307816406286208998628034825342117067982148086513282306647093844"
      "60955058223172535940812848111745028410270193852110555964462294895")

VALID = {}
INVALID = {}

VALID["strings"] = [
    'a = "hello"',
    'a = ""',
    "a = ''",
    r'a = "\b\t\n\f\r\"\\"',
    r'a = "tab\there"',
    'a = "a real\ttab"',
    "a = 'a real\ttab'",
    r'a = "\u00e9\u00C9 \u00Ff"',
    r'a = "\U0001F600 \U0001f389"',
    r'a = "\u0000"',
    r'a = "nul\u0000in the middle"',
    r'a = "\U0010FFFF"',
    r'a = "\uD7FF\uE000\uFFFF\uFFFD"',
    r'a = "\U00000041\u0041"',
    r'a = "\u001F\u007F\u0080"',
    'a = "é ü ß 日本語 🎉 \u2028 \ufeff"',
    r"a = 'C:\Users\nodejs\templates'",
    r"a = '\\ServerX\admin$\system32\'",
    r"a = '<\i\c*\s*>'",
    "a = 'Tom \"Dubs\" Preston-Werner'",
    'a = "it\'s"',
    'a = "# not a comment" # a comment',
    "a = '# not a comment either'#comment",
    'a = """\nRoses are red\nViolets are blue"""',
    'a = """Roses"""',
    'a = """\n\nafter a blank line"""',
    'a = """\r\nCRLF\r\nlines\r\n"""',
    'a = """\\\n   The quick \\\n\n\n  brown fox"""',
    'a = """The quick brown \\\n\n\n  fox jumps over \\\n    the lazy dog."""',
    'a = """\\\n       The quick brown \\\n       fox.\\\n       """',
    'a = """x\\   \n   y"""',
    'a = """x\\\t\n\ty"""',
    'a = """x\\\r\n  \r\n  y"""',
    'a = """x\\\n"""',
    'a = """x\\\\\ny"""',
    'a = """a"b""c"""',
    'a = """x""""',
    'a = """x"""""',
    'a = """"x"""',
    'a = """""x"""',
    'a = """"""',
    'a = """\n"""',
    r'a = """a\"""b"""',
    r'a = """Here are fifteen quotation marks: ""\"""\"""\"""\"""\"."""',
    'a = """"This," she said, "is just a pointless statement.""""',
    'a = """Here are two quotation marks: "". Simple enough."""',
    'a = """tab\there, \\u00e9 and \\U0001F600"""',
    'a = """\' and \'\' and \'\'\' inside"""',
    "a = '''\nThe first newline is\ntrimmed in raw strings.\n   All other whitespace\n   is preserved.\n'''",
    "a = '''I [dw]on't need \\d{2} apples'''",
    "a = ''''That,' she said, 'is still pointless.''''",
    "a = '''x''''",
    "a = '''x'''''",
    "a = ''''''",
    "a = '''\n'''",
    "a = '''\r\nx\r\n'''",
    "a = '''a\\\nb'''",
    "a = '''Here are fifteen quotation marks: \"\"\"\"\"\"\"\"\"\"\"\"\"\"\"'''",
    "a = '''tab\there é 🎉'''",
    'a = "Here are fifteen apostrophes: \'\'\'\'\'\'\'\'\'\'\'\'\'\'\'"',
    'a = """\n\\"""" ',
    'a = "\\"\\"\\""',
    'a = [ "x", \'y\', """z""", \'\'\'w\'\'\' ]',
]

INVALID["strings"] = [
    r'a = "\x41"',
    r'a = "\e"',
    r'a = "\/"',
    r'a = "\ "',
    r'a = "\u00"',
    r'a = "\u00G0"',
    r'a = "\uD800"',
    r'a = "\ud834\udd1e"',
    r'a = "\U0000D800"',
    r'a = "\U00110000"',
    r'a = "\UFFFFFFFF"',
    'a = "𝄞 \\ud834" ',
    'a = "unterminated',
    "a = 'unterminated",
    'a = """unterminated',
    "a = '''unterminated",
    'a = """unterminated""',
    'a = "one\nline"',
    "a = 'one\nline'",
    'a = "x" "y"',
    'a = """x""""""',
    'a = """Here are three quotation marks: """."""',
    "a = '''Here are fifteen apostrophes: ''''''''''''''''''",
    'a = "\x00"',
    'a = "\x7f"',
    'a = "a\rb"',
    'a = "a\r\nb"',
    "a = 'a\x00'",
    'a = """\x00"""',
    'a = """a\rb"""',
    "a = '''a\rb'''",
    "a = '''\x1b'''",
    'a = """\\ x"""',
    r'a = """\x41"""',
    b'a = "\xff"',
    b'a = "\xc0\xaf"',
    b'a = "\xed\xa0\x80"',
    b'a = "\xf4\x90\x80\x80"',
    b"\xff = 1",
    '"""key""" = 1',
]

VALID["integers"] = [
    'a = 0', 'a = +0', 'a = -0', 'a = 42', 'a = +99', 'a = -17',
    'a = 1_000', 'a = 5_349_221', 'a = 53_49_221', 'a = 1_2_3_4_5',
    'a = 0xDEADBEEF', 'a = 0xdeadbeef', 'a = 0xdead_beef', 'a = 0xDeAd_BeEf',
    'a = 0x0', 'a = 0x00', 'a = 0x0000_0001', 'a = 0x7FFFFFFFFFFFFFFF',
    'a = 0x7fff_ffff_ffff_ffff',
    'a = 0o01234567', 'a = 0o755', 'a = 0o0', 'a = 0o777_777',
    'a = 0o777777777777777777777',
    'a = 0b11010110', 'a = 0b0', 'a = 0b1_0_1', 'a = 0b0000_0001',
    'a = 0b' + '1' * 63,
    'a = 9223372036854775807', 'a = +9223372036854775807',
    'a = -9223372036854775808', 'a = -9_223_372_036_854_775_808',
    'a = 9007199254740993',
    'a = 1 # comment', 'a = 1#comment', 'a=1', 'a = [1,-2,+3,0x4,0o5,0b110]',
    'a = {b = 0xff, c = -0}',
]

INVALID["integers"] = [
    'a = 01',
    'a = -01',
    'a = 0_1',
    'a = 1__2',
    'a = 1_',
    'a = _1',
    'a = +0x10',
    'a = -0x10',
    'a = -0b1',
    'a = 0x',
    'a = 0X10',
    'a = 0xG',
    'a = 0o8',
    'a = 0x_1',
    'a = 0x1_',
    'a = 0x1__2',
    'a = 0b_1',
    'a = 0x-1',
    'a = 1 2',
    'a = 1,',
    'a = 1x',
    'a = -',
    'a = ++1',
    'a = ٣',
    'a = 1\u200b',
]

VALID["floats"] = [
    'a = +1.0', 'a = 3.1415', 'a = -0.01', 'a = 5e+22', 'a = 1e06',
    'a = -2E-2', 'a = 6.626e-34', 'a = 224_617.445_991_228',
    'a = -0.0', 'a = +0.0', 'a = 0.0', 'a = -0e0', 'a = 0e0', 'a = 0.0e0',
    'a = inf', 'a = +inf', 'a = -inf', 'a = nan', 'a = +nan', 'a = -nan',
    'a = 1e0', 'a = 1E+0', 'a = 1.5E-3', 'a = 1e-0', 'a = 1e010',
    'a = 1_0.0_1e1_0', 'a = 1e1_0', 'a = 1.7976931348623157e308',
    'a = 5e-324', 'a = 4.9e-324', 'a = 2.2250738585072014e-308',
    'a = 1e-400', 'a = 123456789012345678901234567890.5', 'a = 0.1',
    'a = 0.30000000000000004', 'a = 9007199254740993.0', 'a = 1.0e+00',
    'a = -1e-05', 'a = 0.0001', 'a = 1.000000000000000000001',
    'a = ' + PI, 'a = -' + PI + 'e-3',
    'a = 1' + '0' * 200 + '.0',
    'a = 0.' + '0' * 300 + '1',
    'a = [inf, -inf, nan, 1.0, 2e2]', 'a = {x = 1.5, y = -0.5}',
    'a = 1.5 # comment', 'a = 1e5#c',
]

INVALID["floats"] = [
    'a = 1.',
    'a = .1',
    'a = 3.e+20',
    'a = 1e',
    'a = 01.5',
    'a = 01e5',
    'a = 1._5',
    'a = 1.5_',
    'a = 1e_5',
    'a = 1.5.5',
    'a = 1e5.5',
    'a = 1..5',
    'a = Inf',
    'a = NaN',
    'a = infinity',
    'a = nan_',
    'a = ++inf',
    'a = e5',
    'a = 0x1.0',
    'a = _1.0',
    'a = 1.0e1__0',
    'a = 1,5',
    'a = - 1.0',
]

VALID["booleans"] = [
    'a = true', 'a = false', 'a = [true, false]', 'a = {t = true}',
    'a = true # yes', 'a = false#no', 'true = false', 'false = true',
]

INVALID["booleans"] = [
    'a = True',
    'a = FALSE',
    'a = truee',
    'a = yes',
    'a = true false',
    'a = falsey',
]

VALID["date-times"] = [
    'a = 1979-05-27T07:32:00Z',
    'a = 1979-05-27T00:32:00-07:00',
    'a = 1979-05-27T00:32:00.999999-07:00',
    'a = 1979-05-27 07:32:00Z',
    'a = 1979-05-27t07:32:00z',
    'a = 1979-05-27T07:32:00+00:00',
    'a = 1979-05-27T07:32:00-00:00',
    'a = 1979-05-27T07:32:00.5Z',
    'a = 1979-05-27T07:32:00.000Z',
    'a = 1979-05-27T07:32:00.123456789Z',
    'a = 1979-05-27T07:32:00.1234567890123456789+05:30',
    'a = 1979-05-27T07:32:00+23:59',
    'a = 1979-05-27T07:32:00-23:59',
    'a = 0001-01-01T00:00:00Z',
    'a = 9999-12-31T23:59:59.999999Z',
    'a = 1979-05-27T07:32:00',
    'a = 1979-05-27T00:32:00.999999',
    'a = 1979-05-27 07:32:00',
    'a = 1979-05-27t07:32:00',
    'a = 1979-05-27 07:32:00.1',
    'a = 1979-05-27',
    'a = 2000-02-29',
    'a = 2024-02-29T12:00:00',
    'a = 1900-02-28',
    'a = 0001-01-01',
    'a = 1979-12-31',
    'a = 07:32:00',
    'a = 00:32:00.999999',
    'a = 00:00:00',
    'a = 23:59:59.9999999',
    'a = 12:34:56.7',
    'a = 1987-07-05T17:45:00Z # comment',
    'a = 1979-05-27 # a date, then a comment',
    'a = 1979-05-27 07:32:00 # comment',
    'a = [1979-05-27, 07:32:00, 1979-05-27T07:32:00Z, 1979-05-27 07:32:00]',
    'a = {d = 1979-05-27 07:32:00, t = 07:32:00}',
    'a = [1979-05-27 07:32:00Z,1979-05-27]',
]

INVALID["date-times"] = [
    'a = 1979-13-27',
    'a = 1979-05-32',
    'a = 1979-02-29',
    'a = 1900-02-29',
    'a = 1979-05-27T24:00:00',
    'a = 1979-05-27T07:60:00',
    'a = 1979-05-27T07:32:61',
    'a = 24:00:00',
    'a = 1979-05-27T07:32',
    'a = 07:32',
    'a = 1979-5-27',
    'a = 1979-05-27T7:32:00',
    'a = 1979-05-27T07:32:00.',
    'a = 1979-05-27T07:32:00.Z',
    'a = 1979-05-27T07:32:00+0700',
    'a = 1979-05-27T07:32:00+24:00',
    'a = 1979-05-27T07:32:00+07:60',
    'a = 1979-05-27T07:32:00 Z',
    'a = 1979-05-27X07:32:00',
    'a = 1979-05-27  07:32:00',
    'a = 07:32:00Z',
    'a = 07:32:00+01:00',
    'a = 1979-05-27Z',
    'a = 1979/05/27',
    'a = 1979-05-27 07:32',
    'a = 1979-05-27T07:32:00z+01:00',
]

VALID["arrays"] = [
    'a = []', 'a = [ ]', 'a = [\n]', 'a = [1,2,3]', 'a = [ 1 , 2 , 3 ]',
    'a = [1, "x", 1.5, true, 1979-05-27, [1], {b = 1}]',
    'a = [1,]', 'a = [1 , ]', 'a = [\n1,\n2,\n]',
    'a = [ # c\n 1, # c\n # c\n 2 # c\n ] # c',
    'a = [ "x", # comment with ] and , and [\n "y" ]',
    'a = [[1,2],[3,[4,[5]]]]', 'a = [[], [[]], [[], []]]',
    'a = [1\n,2]', 'a = [1\n\n,\n\n2\n\n]', 'a = [\r\n1,\r\n2\r\n]',
    'a = [\t1\t,\t2\t]',
    'a = [{}, {a = 1}, {a = {b = [1]}}]',
    'a = [ [ 1, 2 ], ["a", "b", "c"] ]',
    'a = [ 0.1, 0.2, 0.5, 1, 2, 5 ]',
    'contributors = [\n  "Foo Bar <foo@example.com>",\n  { name = "Baz Qux", email = "bazqux@example.com", url = "https://example.com/bazqux" }\n]',
    'a = ["""\nmulti\nline""", \'\'\'\nraw\n\'\'\']',
    'a = [ [ ] ]',
    'a = [1, [2, [3, [4, [5, [6, [7, [8, [9, [10]]]]]]]]]]',
    'a = [' + ', '.join(str(i) for i in range(200)) + ']',
    'a = [\n# only a comment\n]',
]

INVALID["arrays"] = [
    'a = [',
    'a = [1',
    'a = [1 2]',
    'a = [,]',
    'a = [1,,2]',
    'a = ]',
    'a = [1]]',
    'a = [[1]',
    'a = [1\n',
    'a = [1 # comment ]',
    'a = [ "a" "b" ]',
    'a = [1,\n,2]',
    'a = [ \x01 ]',
    'a = [\r]',
    'a = [1\r,2]',
    'a = [ # \x00\n1]',
]

VALID["inline tables"] = [
    'a = {}', 'a = { }', 'a = {b = 1}', 'a = {b = 1, c = "x"}',
    'a = { b.c = 1, b.d = 2 }', 'a = {b = {c = {d = 1}}}',
    'a = {b = [1, 2], c = [{d = 1}]}', 'a = { "q" = 1, \'r\' = 2 }',
    'name = { first = "Tom", last = "Preston-Werner" }',
    'point = { x = 1, y = 2 }', 'animal = { type.name = "pug" }',
    'a = {b = """x\ny"""}', 'a = {b = [\n1,\n2\n]}', "a = {b = '''\n'''}",
    '[t]\na = {b=1}', 'a = [{b = 1}, {b = 2}]', 'a={b=1,c=2}',
    'a = {\tb\t=\t1\t,\tc = 2\t}', 'a = {b = {}, c = {}}',
    'a = { b . c . d = 1 }', 'a = { "" = 1 }',
    'a = {b = 1} # comment', 'a = {b = 1}#c',
    'a = {a = {a = {a = 1}}}',
    'points = [ { x = 1, y = 2, z = 3 },\n           { x = 7, y = 8, z = 9 },\n           { x = 2, y = 4, z = 8 } ]',
    'a = {b = [{c = {d = [1]}}]}',
    'a = {b.c = {d = 1}, b.e = 2}',
]

INVALID["inline tables"] = [
    'a = {',
    'a = {b = 1,}',
    'a = {,}',
    'a = {b = 1 c = 2}',
    'a = {\nb = 1}',
    'a = {b = 1\n}',
    'a = {b = 1,\nc = 2}',
    'a = {b = }',
    'a = {b = 1, b = 2}',
    'a = {b.c = 1, b = 2}',
    'a = {b = {}, b.c = 1}',
    'a = {b = 1, b.c = 2}',
    'a = {b = 1}\na.c = 2',
    'a = {b = 1}\n[a]',
    'a = {b = 1}\n[a.c]',
    'a = {b = {c = 1}}\na.b.d = 2',
    'a = {}\n[[a]]',
    '[t]\na = {b = 1}\n[t.a]',
    '[t]\na = {b = 1}\na.c = 2',
    'a = { # comment\n}',
    'a = {b = 1 # c\n}',
    'a = [{b = 1}]\n[[a]]',
    '[product]\ntype = { name = "Nail" }\ntype.edible = false',
    '[product]\ntype.name = "Nail"\ntype = { edible = false }',
    'a = { b = 1 }, c = 2',
]

VALID["tables"] = [
    '[table]', '[a]\nb = 1\n[c]\nd = 2', '[a.b.c]\nd = 1', '[ a . b ]',
    '[a."b.c"]', "[a.'b']", '[ j . "ʞ" . \'l\' ]', '[x.y.z.w]\n[x]',
    '[a.b]\nc = 1\n[a]\nd = 2', '[a]\n[b]\n[a.c]',
    '[fruit.apple]\n[animal]\n[fruit.orange]',
    '[fruit]\napple.color = "red"\napple.taste.sweet = true\n[fruit.apple.texture]\nsmooth = true',
    '[dog."tater.man"]\ntype.name = "pug"',
    '["key with spaces"]\na = 1', '[""]\na = 1', '[a.""."b"]',
    '  [a]  # indented header with a comment', '\t[a]\n\t\tb = 1',
    '[a]\nb.c = 1\nb.d = 2', '[a.b.c]\n[a]\nb.d = 1',
    'a.b = 1\n[a.c]\nd = 2', '[a]\n[a.b]\n[a.b.c]\n[a.b.c.d]',
    '[a.b]\n[a.c]\n[a]', '[a]\nb = {}\n[c]',
    '[[products]]\nname = "Hammer"\nsku = 738594937\n\n[[products]]  # empty table within the array\n\n[[products]]\nname = "Nail"\nsku = 284758393\n\ncolor = "gray"',
    '[[fruits]]\nname = "apple"\n\n[fruits.physical]  # subtable\ncolor = "red"\nshape = "round"\n\n[[fruits.varieties]]  # nested array of tables\nname = "red delicious"\n\n[[fruits.varieties]]\nname = "granny smith"\n\n\n[[fruits]]\nname = "banana"\n\n[[fruits.varieties]]\nname = "plantain"',
    '[[a]]\n[[a]]', '[[a.b]]\n[[a.b]]',
    '[[a]]\n[a.b]\nc = 1\n[[a]]\n[a.b]\nc = 2',
    '[[a]]\nb = [{c = 1}]', '[a]\n[[a.b]]\nx = 1\n[[a.b]]\nx = 2',
    '[[a]]\n[[a.b]]\n[a.b.c]\nd = 1', '[[ a ]]', '[[a . "b"]]',
    '[[a]]\nb.c = 1\nb.d = 2\n[[a]]\nb.c = 3',
    '[a]\n[[a.b]]\n[a.c]', '[[a]]\n[a.b.c]\n[[a]]\n[a.b.c]',
    '[a]\n\n\n[b]\n\n', '[a]\r\nb = 1\r\n[c]\r\n',
    '[a]\nb = 1\n[a.c]\nd = 2\n[a.e]\n[a.c.f]',
    '[a]\nx.y = 1\n[a.x.z]\nw = 2',
    '["a"]\n[\'a\'.b]\n[a."c"]', '[a.b.c.d.e.f.g.h]\n[a.b.c]',
    '[[x]]\n[x.y]\n[x.y.z]\n[[x]]\n[x.y]\n[[x.y.w]]',
    '[1]\n[1.2]\n[1.2.3]', '[true]\n[inf.nan]',
    '[a]\n[[a.b]]\n[[a.b]]\n[a.b.c]\nd = 1\n[a.e]',
]

INVALID["tables"] = [
    '[a]\n[a]',
    '[a]\nb = 1\n[a]\nc = 2',
    '[a]\n[a.b]\n[a]',
    '[a]\n["a"]',
    '[fruit]\napple = "red"\n[fruit.apple]\ntexture = "smooth"',
    '[fruit]\napple = "red"\n\n[fruit]\norange = "orange"',
    'a = 1\n[a]',
    'a = 1\n[a.b]',
    'a = [1]\n[a]',
    'a = []\n[[a]]',
    'a.b = 1\n[a]',
    'a.b.c = 1\n[a.b]',
    '[fruit]\napple.color = "red"\napple.taste.sweet = true\n[fruit.apple]',
    '[fruit]\napple.color = "red"\napple.taste.sweet = true\n[fruit.apple.taste]',
    '[a.b]\n[a]\nb.c = 1',
    '[a]\nb = 1\n[a.b]',
    '[a.b]\nc = 1\n[a]\nb = 2',
    '[a]\nb.c = 1\n[a.b]',
    '[a]\nb.c.d = 1\n[a.b.c]',
    'a.b = 1\n[a.b.c]',
    '[[a]]\n[a]',
    '[a]\n[[a]]',
    '[[fruits]]\nname = "apple"\n[[fruits.varieties]]\nname = "red delicious"\n[fruits.varieties]\nname = "granny smith"',
    '[[fruits]]\n[fruits.physical]\ncolor = "red"\n[[fruits.physical]]\ncolor = "green"',
    '[fruit.physical]\ncolor = "red"\n[[fruit]]\nname = "apple"',
    '[[a.b]]\n[a]\nb.c = 1',
    '[[a]]\nb = 1\nb = 2',
    '[[a]]\n[[a.b]]\n[a.b]',
    '[[a]]\nb = {}\n[a.b]',
    '[]',
    '[[]]',
    '[a.]',
    '[a..b]',
    '[a] b = 1',
    '[[a]',
    '[a]]',
    '[ [a]]',
    '[[a] ]',
    '[a = 1]',
    "['''a''']",
    '[a]\n [a.b]\n [a]',
    '[a] # \x01',
]

VALID["keys"] = [
    'key = 1', 'bare_key = 1', 'bare-key = 1', '1234 = 1',
    '"127.0.0.1" = 1', '"character encoding" = 1', '"ʎǝʞ" = 1',
    "'key2' = 1", "'quoted \"value\"' = 1", '"" = 1', "'' = 1",
    '"\\u00e9" = 1\n"é2" = 2', '"a\\"b" = 1', '"\\n\\t" = 1',
    'A = 1\na = 2', '-_- = 1', '_ = 1', '- = 1', 'inf = 1', 'nan = 1',
    '0 = 1', '01 = 1', '1.2 = 3', '3.14159 = "pi"', '"a.b" = 1',
    "a.'b.c' = 1", 'a."" = 1', 'key=1', '\tkey\t=\t1', '  key  =  1  ',
    'a = 1\n"b" = 2\n\'c\' = 3', 'a.b.c = 1', 'a.b = 1\na.c = 2',
    'apple.type = "fruit"\norange.type = "fruit"\napple.skin = "thin"\norange.skin = "thick"',
    'site."google.com" = true', 'fruit.name = "banana"\nfruit. color = "yellow"\nfruit . flavor = "banana"',
    'a . b . c = 1', 'a\t.\tb = 1', '"a" . \'b\' . c = 1',
    'fruit.apple.smooth = true\nfruit.orange = 2',
    'name = "Orange"\nphysical.color = "orange"\nphysical.shape = "round"',
    '1979-05-27 = 1', 'true.false = 1', '"\\u0000" = 1',
    '"😀" = 1\n"\\U0001F600x" = 2', "'\\u00e9' = 1",
    '\n'.join('k%d = %d' % (i, i) for i in range(40)),
    '[t]\n' + '\n'.join('"k %d" = %d' % (i, i) for i in range(300)),
    '\n'.join('t.k%d = %d' % (i, i) for i in range(20)) + '\n[t.sub]\nx = 1',
    'a = {' + ', '.join('k%d = %d' % (i, i) for i in range(30)) + '}',
]

INVALID["keys"] = [
    '= 1',
    'a =',
    'a == 1',
    'a b = 1',
    '.a = 1',
    'a. = 1',
    'a..b = 1',
    'a"b" = 1',
    '"""a""" = 1',
    'a = 1 b = 2',
    'é = 1',
    '"a\nb" = 1',
    "'a\\'b' = 1",
    'a =\n1',
    '"\\x41" = 1',
    '"\\uD800" = 1',
    'a.b.c = 1\na.b = 2',
    '\x00 = 1',
    'a = # comment',
    'first = "Tom" last = "Preston-Werner"',
    'a = 1\na = 2',
    'a = 1\n"a" = 2',
    '"\\u0061" = 1\na = 2',
    'a.b = 1\na.b = 2',
    'a = 1\na.b = 2',
    'fruit.apple = 1\nfruit.apple.smooth = true',
    '[[a]]\n[b]\na.c = 1\n[a]',
    '\n'.join('k%d = %d' % (i, i) for i in range(40)) + '\nk17 = 0',
    '[t]\n' + '\n'.join('"k %d" = %d' % (i, i) for i in range(300)) + '\n"k 299" = 1',
    'a = {' + ', '.join('k%d = %d' % (i, i) for i in range(30)) + ', k3 = 1}',
    'a.b = 1\n"a".b = 2',
]

VALID["layout"] = [
    '', '\n', '\n\n\n', '# only a comment', '# comment\n', '   ', '\t\n',
    ' \t \n \t ', 'a = 1\r\nb = 2\r\n', '# comment\r\na = 1',
    'a = 1 # c\r\n', 'a = 1', 'a = 1\n\n', 'a = 1\n\r\n\n',
    '# comment with a tab\t and é unicode 🎉\na = 1', '#\n',
    'a = "x" #no space', 'a = 1#c', '[a]#c', '[[a]]#c', 'a = [1]#c',
    'a = {}#c', '## double', '# "quotes" \'and\' """ ] [ = #\na = 1',
    '# \u2028 \ufeff \U0010ffff', 'a = 1\n# trailing comment',
    '\n\n  a = 1\n\n  [b]\n\n  c = 2\n\n',
    'a = 1\r\n[b]\r\nc = [\r\n  1, # one\r\n  2,\r\n]\r\n',
    'a = 1\n\r\n[t]\r\nx = """\r\ny\n"""\n',
    '#!/usr/bin/env something\na = 1',
    '\t# indented comment\n\t\ta = 1\t# trailing\t\n',
    # each kind of value at the very end of the input
    'a = 1979-05-27', 'a = 07:32:00', 'a = 1979-05-27 07:32:00',
    'a = 1979-05-27T07:32:00.5+01:00', 'a = 1.5', 'a = -inf', 'a = 0x1F',
    'a = "x"', "a = '''x'''", 'a = """x\\\n"""', 'a = [1]', 'a = {}',
    'a = true', 'a = 1979-05-27 ', 'a = 0',
]

INVALID["layout"] = [
    'a = 1\rb = 2',
    'a = 1\r',
    '\r',
    '# comment\r',
    '# comment\rb = 1',
    '# comment \x00',
    '# comment \x01\n',
    '[a] # \x7f',
    'a = [ # \x0b\n1]',
    '\x0c a = 1',
    '\u3000a = 1',
    '\u00a0a = 1',
    'a = 1\n\ufeff',
    '\ufeff\ufeffa = 1',
    'a = 1\n\ufeffb = 2',
    b'# \xff\n',
    b'a = 1\n# \xed\xb0\x80',
    b'a = 1 # \xf5\x80\x80\x80',
]

# TOML 1.0.0 and tomllib disagree here; the spec wins.  Each case has
# the tagged JSON it must decode to, or None: an error.
SPEC = [
    # A TOML file is "a valid UTF-8 encoded Unicode document": that
    # allows one byte order mark at the start (toml-lang/toml#437; the
    # toml-test suite agrees).  tomllib refuses it.
    ('\ufeffa = 1', {"a": {"type": "integer", "value": "1"}}),
    ('\ufeff', {}),
    ('\ufeff# comment\n[t]\nb = "x"\n',
     {"t": {"b": {"type": "string", "value": "x"}}}),
    ('\ufeff\r\nb = 1979-05-27\r\n',
     {"b": {"type": "date-local", "value": "1979-05-27"}}),
    # Integers must be lossless in 64 bits, "if an integer cannot be
    # represented losslessly, an error must be thrown"; tomllib has
    # big integers.
    ('a = 9223372036854775808', None),
    ('a = +9223372036854775808', None),
    ('a = -9223372036854775809', None),
    ('a = 9_223_372_036_854_775_808', None),
    ('a = 0x8000000000000000', None),
    ('a = 0xffffffffffffffff', None),
    ('a = 0o1000000000000000000000', None),
    ('a = 0b1' + '0' * 63, None),
    ('a = 99999999999999999999999', None),
    ('a = [1, 2, 18446744073709551616]', None),
    # The ABNF's time-second is "00-58, 00-59, 00-60 based on leap
    # second rules" (RFC 3339); Python's datetime has no second 60.
    ('a = 23:59:60', {"a": {"type": "time-local", "value": "23:59:60"}}),
    ('a = 1990-12-31T23:59:60Z',
     {"a": {"type": "datetime", "value": "1990-12-31T23:59:60Z"}}),
    ('a = 1990-12-31 23:59:60.5',
     {"a": {"type": "datetime-local", "value": "1990-12-31T23:59:60.5"}}),
    # Floats are binary64; lib/toml.c refuses a literal beyond its range
    # rather than read it as inf (tomllib's choice): a config value of
    # 1e400 is a mistake, inf is written inf.
    ('a = 1e400', None),
    ('a = -1.8e308', None),
    ('a = 17976931348623159' + '0' * 292 + '.0', None),
]

# Where the error is: (document, line, column), columns in characters.
POSITIONS = [
    ('a = 1\nb = 01\n', 2, 5),
    ('a = "x"\n[t]\nc = "\\q"\n', 3, 6),
    ('[a]\nb = 1\n[a]\n', 3, 2),
    ('x = 1\ny = 2\nx = 3', 3, 1),
    ('a = 1\r\nb = 2\r\nc = @\r\n', 3, 5),
    ('a = "é日本" x\n', 1, 11),
    ('a = """\nline1\nline2""" junk\n', 3, 10),
    ('a = 1\n# bad \x01 here', 2, 7),
    (b'a = 1\nb = "\xff"', 2, 6),
    ('a = {b = 1\n}', 1, 11),
    ('\ufeffa = 1\nb = ?', 2, 5),
    ('\ufeff= 1', 1, 1),
    ('\ta = @', 1, 6),
    ('d = 1979-13-01', 1, 5),
    ('[a.b]\n[a]\nb.c = 1\n', 3, 1),
    ('a = [1, 2\n  3]', 2, 3),
    ('🎉 = 1', 1, 1),
    ('"🎉" = 1 2', 1, 9),
]


# --- tagged values, normalised --------------------------------------------

DT_RE = {
    "datetime": re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)"
                           r"(?:\.(\d+))?(Z|[+-]\d\d:\d\d)\Z"),
    "datetime-local": re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):"
                                 r"(\d\d)(?:\.(\d+))?\Z"),
    "date-local": re.compile(r"(\d{4})-(\d\d)-(\d\d)\Z"),
    "time-local": re.compile(r"(\d\d):(\d\d):(\d\d)(?:\.(\d+))?\Z"),
}
INT_RE = re.compile(r"-?(0|[1-9][0-9]*)\Z")
FLOAT_RE = re.compile(r"-?(inf|nan|[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)\Z")


def micro(frac):
    """A fraction as written, cut (not rounded) to microseconds."""
    return int(((frac or "") + "000000")[:6])


def norm_tagged_dt(kind, s):
    m = DT_RE[kind].match(s)
    if not m:
        return ("BAD", kind, s)
    g = m.groups()
    if kind == "date-local":
        return (kind, int(g[0]), int(g[1]), int(g[2]))
    if kind == "time-local":
        return (kind, int(g[0]), int(g[1]), int(g[2]), micro(g[3]))
    t = (kind,) + tuple(int(x) for x in g[:6]) + (micro(g[6]),)
    if kind == "datetime":
        off = 0
        if g[7] != "Z":
            off = int(g[7][1:3]) * 60 + int(g[7][4:6])
            if g[7][0] == "-":
                off = -off
        t += (off,)
    return t


def norm_float(f):
    if math.isnan(f):
        return ("float", "nan")
    return ("float", f, math.copysign(1.0, f))


def norm_tagged(j):
    """toml-test's tagged JSON (from the decoder or written here)."""
    if isinstance(j, list):
        return ("array", tuple(norm_tagged(x) for x in j))
    if set(j) == {"type", "value"} and isinstance(j["type"], str) and \
            isinstance(j["value"], str):
        t, v = j["type"], j["value"]
        if t == "string":
            return ("string", v)
        if t == "bool" and v in ("true", "false"):
            return ("bool", v)
        if t == "integer" and INT_RE.match(v):
            return ("integer", int(v))
        if t == "float" and FLOAT_RE.match(v):
            return norm_float(float(v))
        if t in DT_RE:
            return norm_tagged_dt(t, v)
        return ("BAD", t, v)
    return ("table", tuple((k, norm_tagged(v)) for k, v in j.items()))


def norm_py(x):
    """What tomllib returns (or the random generator's model)."""
    if isinstance(x, Leaf):
        return norm_py(x.value)
    if isinstance(x, bool):
        return ("bool", "true" if x else "false")
    if isinstance(x, int):
        return ("integer", x)
    if isinstance(x, float):
        return norm_float(x)
    if isinstance(x, str):
        return ("string", x)
    if isinstance(x, datetime.datetime):
        t = (x.year, x.month, x.day, x.hour, x.minute, x.second,
             x.microsecond)
        if x.tzinfo is None:
            return ("datetime-local",) + t
        off = x.utcoffset()
        return ("datetime",) + t + (off.days * 1440 + off.seconds // 60,)
    if isinstance(x, datetime.date):
        return ("date-local", x.year, x.month, x.day)
    if isinstance(x, datetime.time):
        return ("time-local", x.hour, x.minute, x.second, x.microsecond)
    if isinstance(x, list):
        return ("array", tuple(norm_py(i) for i in x))
    if isinstance(x, dict):
        return ("table", tuple((k, norm_py(v)) for k, v in x.items()))
    raise TypeError(type(x))


def unordered(n):
    if n[0] == "table":
        return ("table", tuple(sorted(((k, unordered(v)) for k, v in n[1]),
                                      key=lambda kv: kv[0])))
    if n[0] == "array":
        return ("array", tuple(unordered(v) for v in n[1]))
    return n


def first_difference(a, b, path="/"):
    """Where two normalised values first differ, for the diagnostics."""
    if a == b:
        return None
    if a[0] != b[0] or a[0] not in ("table", "array"):
        return "%s: %s != %s" % (path, short(a), short(b))
    if a[0] == "array":
        if len(a[1]) != len(b[1]):
            return "%s: %d items != %d" % (path, len(a[1]), len(b[1]))
        for i, (x, y) in enumerate(zip(a[1], b[1])):
            d = first_difference(x, y, "%s%d/" % (path, i))
            if d:
                return d
    ka, kb = [k for k, _ in a[1]], [k for k, _ in b[1]]
    if sorted(ka) != sorted(kb):
        return "%s: keys %s != %s" % (path, short(ka), short(kb))
    if ka != kb:
        return "%s: key order %s != %s" % (path, short(ka), short(kb))
    for (k, x), (_, y) in zip(a[1], b[1]):
        d = first_difference(x, y, "%s%s/" % (path, k))
        if d:
            return d
    return "%s: differ" % path


def short(x, n=100):
    s = repr(x)
    return s if len(s) <= n else s[:n] + "..."


# --- running the decoder -----------------------------------------------------

ERR_RE = re.compile(r"toml-decode: line ([0-9]+), column ([0-9]+): \S")
SANITIZER = re.compile(r"Sanitizer|runtime error:")


def as_bytes(doc):
    return doc if isinstance(doc, bytes) else doc.encode("utf-8")


def decode(decoder, doc):
    """(exit status, stdout, stderr) of the decoder on doc."""
    try:
        p = subprocess.run([decoder], input=as_bytes(doc),
                           capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        return (-1, b"", b"timed out")
    return (p.returncode, p.stdout, p.stderr)


def reference(doc):
    """tomllib's value, or None when it refuses the document."""
    try:
        text = as_bytes(doc).decode("utf-8")
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None


def check_decoded(result, want):
    """None if the decoder's result is want (normalised), else why not."""
    rc, out, err = result
    err = err.decode("utf-8", "replace")
    if rc != 0 or err:
        return "exit %d: %s" % (rc, short(err.strip(), 160))
    try:
        got = json.loads(out, object_pairs_hook=unique_keys)
    except ValueError as e:
        return "bad JSON: %s" % e
    got = norm_tagged(got)
    bad = find_bad(got)
    if bad:
        return "bad tagged value %s" % short(bad)
    if unordered(got) != unordered(want):
        return first_difference(got, want)
    if got != want:
        return "keys in another order: " + first_difference(got, want)
    return None


def unique_keys(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError("key %r twice in one object" % k)
        d[k] = v
    return d


def find_bad(n):
    if n[0] == "BAD":
        return n
    if n[0] == "table":
        for _, v in n[1]:
            b = find_bad(v)
            if b:
                return b
    if n[0] == "array":
        for v in n[1]:
            b = find_bad(v)
            if b:
                return b
    return None


def check_refused(result):
    """None if the decoder refused the document as it should, else why."""
    rc, out, err = result
    err = err.decode("utf-8", "replace")
    if SANITIZER.search(err):
        return "sanitizer: " + short(err, 200)
    if rc != 1:
        return "exit %d (want 1), stdout %s" % (rc, short(out, 80))
    m = ERR_RE.match(err)
    if not m or err.count("\n") != 1:
        return "message without line and column: %s" % short(err)
    return None


# --- the random documents ------------------------------------------------------

BARE = re.compile(r"[A-Za-z0-9_-]+\Z")
TEXT = list("abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789 ") + [
    " ", "\t", '"', "'", "\\", "#", "=", "[", "]", "{", "}", ",", ".",
    "é", "ß", "日", "本", "🎉", "\u0080", "\u07ff", "\u0800", "\uffff",
    "\U00010000", "\U0010ffff", "\ufeff", "\u2028"]
CONTROL = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f",
           "\n", "\r", "\b", "\f"]
SHORT_ESC = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
             "\r": "\\r", '"': '\\"', "\\": "\\\\"}
VALUE_WORDS = ["true", "false", "inf", "nan", "1234", "0x10", "-", "_",
               "1979-05-27", "3.14", "a.b", "", " ", "#", "=", "[x]",
               "key with spaces", "é", "'", '"', "\\", "\n", "\x00"]


class Leaf:
    """A float or date-time of the model, with the text it is written as."""

    def __init__(self, value, text):
        self.value, self.text = value, text


class RandomDoc:
    """A random table (the model) and a random TOML text for it."""

    def __init__(self, r, name):
        self.r = r
        self.name = name
        self.nl = r.choice(["\n", "\n", "\r\n", "mixed"])
        self.model = self.table(0, root=True)
        self.text = self.render()

    # the model

    def table(self, depth, root=False):
        r, t = self.r, {}
        n = r.randint(1 if root else 0, 6 if depth < 2 else 3)
        if r.random() < 0.04:
            n = r.randint(9, 40)
        for _ in range(n):
            t[self.key(t)] = self.value(depth + 1, big=n > 8)
        return t

    def key(self, t):
        r = self.r
        while True:
            c = r.random()
            if c < 0.65:
                k = "".join(r.choice("abcxyzQ019_-")
                            for _ in range(r.randint(1, 8)))
            elif c < 0.85:
                k = r.choice(VALUE_WORDS)
            else:
                k = self.string_text(0, 6)
            if k not in t:
                return k

    def value(self, depth, big=False):
        r = self.r
        kinds = ["string", "integer", "float", "bool", "date-time", "array"]
        if depth < 5 and not big:
            kinds += ["table", "table", "table", "aot"]
        k = r.choice(kinds)
        if k == "string":
            return self.string_text(0.1, 20)
        if k == "integer":
            return self.integer()
        if k == "float":
            return self.float()
        if k == "bool":
            return r.random() < 0.5
        if k == "date-time":
            return self.datetime()
        if k == "table":
            return self.table(depth)
        if k == "aot":
            return [self.table(depth) for _ in range(r.randint(1, 3))]
        return self.array(depth)

    def array(self, depth):
        r = self.r
        n = r.randint(0, 5)
        if depth > 5:
            return [self.scalar() for _ in range(n)]
        out = []
        for _ in range(n):
            c = r.random()
            if c < 0.15:
                out.append(self.array(depth + 1))
            elif c < 0.25:
                out.append(self.table(depth + 2))
            else:
                out.append(self.scalar())
        return out

    def scalar(self):
        return self.value(99)

    def string_text(self, pctrl, maxlen):
        r = self.r
        return "".join(r.choice(CONTROL) if r.random() < pctrl else
                       r.choice(TEXT) for _ in range(r.randint(0, maxlen)))

    def integer(self):
        r = self.r
        c = r.random()
        if c < 0.4:
            return r.randint(-100, 100)
        if c < 0.6:
            return r.randint(-10**6, 10**6)
        if c < 0.8:
            return r.randint(-2**63, 2**63 - 1)
        return r.choice([-2**63, 2**63 - 1, 0, -1, 2**31, 2**32, 2**53 + 1,
                         -2**63 + 1, 2**63 - 2])

    def digits(self, n, first19=False):
        r = self.r
        d = "".join(r.choice("0123456789") for _ in range(n))
        if first19:
            d = r.choice("123456789") + d[1:]
        return d

    def underscores(self, d):
        r = self.r
        if len(d) < 2 or r.random() < 0.6:
            return d
        out = d[0]
        for ch in d[1:]:
            if r.random() < 0.3:
                out += "_"
            out += ch
        return out

    def float(self):
        r = self.r
        sign = r.choice(["", "", "+", "-"])
        if r.random() < 0.1:
            text = sign + r.choice(["inf", "nan"])
            return Leaf(float(text), text)
        while True:
            n = r.choice([1, 1, 2, 3, 5, 8, 17, 25])
            ip = "0" if r.random() < 0.3 else self.digits(n, True)
            frac = exp = ""
            if r.random() < 0.8:
                frac = "." + self.underscores(
                    self.digits(r.choice([1, 1, 2, 4, 6, 10, 20, 40])))
            if not frac or r.random() < 0.4:
                e = str(r.randint(0, 300))
                e = "0" * r.choice([0, 0, 1, 2]) + e
                exp = r.choice("eE") + r.choice(["", "+", "-"]) + \
                    self.underscores(e)
            text = sign + self.underscores(ip) + frac + exp
            v = float(text.replace("_", ""))
            if not math.isinf(v):
                return Leaf(v, text)

    def datetime(self):
        r = self.r
        y, mo = r.randint(1, 9999), r.randint(1, 12)
        d = r.randint(1, calendar.monthrange(y, mo)[1])
        h, mi, s = r.randint(0, 23), r.randint(0, 59), r.randint(0, 59)
        nf = r.choice([0, 0, 0, 1, 3, 6, 9])
        frac = self.digits(nf)
        date = "%04d-%02d-%02d" % (y, mo, d)
        time = "%02d:%02d:%02d" % (h, mi, s) + ("." + frac if nf else "")
        us = micro(frac)
        c = r.random()
        if c < 0.15:
            return Leaf(datetime.date(y, mo, d), date)
        if c < 0.3:
            return Leaf(datetime.time(h, mi, s, us), time)
        text = date + r.choice("TtT ") + time
        if c < 0.5:
            return Leaf(datetime.datetime(y, mo, d, h, mi, s, us), text)
        oc = r.random()
        if oc < 0.3:
            off, text = 0, text + r.choice("Zz")
        else:
            oh, om = r.randint(0, 23), r.randint(0, 59)
            sg = r.choice("+-")
            off = (oh * 60 + om) * (-1 if sg == "-" else 1)
            text += "%s%02d:%02d" % (sg, oh, om)
        tz = datetime.timezone(datetime.timedelta(minutes=off))
        return Leaf(datetime.datetime(y, mo, d, h, mi, s, us, tz), text)

    # the text

    def newline(self):
        if self.nl == "mixed":
            return self.r.choice(["\n", "\r\n"])
        return self.nl

    def ws(self):
        r = self.r
        if r.random() < 0.6:
            return ""
        return "".join(r.choice(" \t") for _ in range(r.randint(1, 3)))

    def comment(self):
        r = self.r
        body = "".join(c for c in self.string_text(0, 15)
                       if c == "\t" or not (c < " " or c == "\x7f"))
        return "#" + body

    def key_text(self, k):
        r = self.r
        if BARE.match(k) and r.random() < 0.85:
            return k
        if literal_ok(k) and r.random() < 0.4:
            return "'" + k + "'"
        return '"' + "".join(self.escape(c, False) for c in k) + '"'

    def key_path(self, path):
        return ".".join(self.ws() + self.key_text(k) + self.ws()
                        for k in path)

    def escape(self, c, multiline):
        r = self.r
        if c in SHORT_ESC and (c in '"\\\r\b\f' or r.random() < 0.5 or
                               (c == "\n" and not multiline)):
            if c == '"' and multiline:
                return c    # ml_basic() looks after the quotes
            return SHORT_ESC[c]
        if c == "\n" and multiline:
            return self.newline()
        if c < " " and c != "\t" or c == "\x7f" or r.random() < 0.08:
            if ord(c) < 0x10000 and r.random() < 0.6:
                return "\\u%04x" % ord(c) if r.random() < 0.5 else \
                    "\\u%04X" % ord(c)
            return "\\U%08X" % ord(c)
        return c

    def string(self, s):
        r = self.r
        kinds = ["basic", "ml-basic"]
        if literal_ok(s):
            kinds.append("literal")
        if ml_literal_ok(s):
            kinds.append("ml-literal")
        k = r.choice(kinds)
        if k == "basic":
            return '"' + "".join(self.escape(c, False) for c in s) + '"'
        if k == "literal":
            return "'" + s + "'"
        if k == "ml-literal":
            lead = self.newline() if s.startswith("\n") or \
                r.random() < 0.4 else ""
            return "'''" + lead + s.replace("\n", self.newline()) + "'''"
        return self.ml_basic(s)

    def ml_basic(self, s):
        r = self.r
        out = ['"""']
        if s.startswith("\n") or r.random() < 0.4:
            out.append(self.newline())      # trimmed
        quotes = 0
        for c in s:
            if c not in " \t\n" and r.random() < 0.08:
                out.append("\\" + self.ws() + self.newline())
                for _ in range(r.randint(0, 2)):
                    out.append(self.ws() + self.newline())
                out.append(self.ws())
                quotes = 0
            if c == '"':
                if quotes == 2 or r.random() < 0.2:
                    out.append('\\"')
                    quotes = 0
                else:
                    out.append('"')
                    quotes += 1
                continue
            quotes = 0
            out.append(self.escape(c, True))
        if r.random() < 0.1:
            out.append("\\" + self.newline() + self.ws())
        out.append('"""')
        return "".join(out)

    def integer_text(self, v):
        r = self.r
        if v >= 0 and r.random() < 0.4:
            base = r.choice("xob")
            d = format(v, base)
            if base == "x":
                d = "".join(c.upper() if r.random() < 0.5 else c for c in d)
            d = "0" * r.choice([0, 0, 1, 3]) + d
            return "0" + base + self.underscores(d)
        sign = "-" if v < 0 else r.choice(["", "", "+"])
        return sign + self.underscores(str(abs(v)))

    def value_text(self, v):
        if isinstance(v, Leaf):
            return v.text
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return self.integer_text(v)
        if isinstance(v, str):
            return self.string(v)
        if isinstance(v, list):
            return self.array_text(v)
        return self.inline_text(v)

    def gap(self):
        """Between the parts of an array: white space, newlines, comments."""
        r = self.r
        c = r.random()
        if c < 0.5:
            return self.ws()
        if c < 0.8:
            return self.ws() + self.newline() + self.ws()
        return self.ws() + self.comment() + self.newline() + self.ws()

    def array_text(self, a):
        r = self.r
        out = ["["]
        for i, v in enumerate(a):
            out += [self.gap(), self.value_text(v), self.gap()]
            if i < len(a) - 1 or r.random() < 0.3:
                out.append(",")
        out += [self.gap(), "]"]
        return "".join(out)

    def inline_text(self, t):
        items = self.keyvals([], t, True)
        if not items:
            return "{" + self.ws() + "}"
        sep = self.ws() + "," + self.ws()
        return "{" + self.ws() + sep.join(items) + self.ws() + "}"

    def keyvals(self, prefix, t, dotted_ok):
        """Key/value pairs for t, its subtables as dotted keys or inline."""
        out = []
        for k, v in t.items():
            if isinstance(v, dict) and v and dotted_ok and \
                    self.r.random() < 0.4:
                out += self.keyvals(prefix + [k], v, True)
                continue
            out.append(self.key_path(prefix + [k]) + "=" + self.ws() +
                       self.value_text(v))
        return out

    def section(self, t):
        """The lines of a table's own section, and the tables it defers
        to [headers] and [[headers]] of their own."""
        r = self.r
        lines, later = [], []
        for k, v in t.items():
            if isinstance(v, dict) and r.random() < 0.5:
                later.append(("table", k, v))
            elif is_aot(v) and r.random() < 0.6:
                later.append(("aot", k, v))
            else:
                lines += [self.ws() + kv + self.eol()
                          for kv in self.keyvals([], {k: v}, True)]
        return lines, later

    def eol(self):
        r = self.r
        return self.ws() + (self.comment() if r.random() < 0.15 else "")

    def header(self, path, aot):
        o, c = ("[[", "]]") if aot else ("[", "]")
        return self.ws() + o + self.key_path(path) + c + self.eol()

    def emit_later(self, path, later, out):
        r = self.r
        for kind, k, v in later:
            p = path + [k]
            if kind == "aot":
                for elem in v:
                    lines, sub = self.section(elem)
                    out.append(self.header(p, True))
                    out += lines
                    self.emit_later(p, sub, out)
                continue
            lines, sub = self.section(v)
            c = r.random()
            if not lines and sub and c < 0.3:
                # left implicit: its subtables' headers make it
                self.emit_later(p, sub, out)
            elif sub and c < 0.5:
                # [x.y] before [x]: a super-table may come later
                self.emit_later(p, sub, out)
                out.append(self.header(p, False))
                out += lines
            else:
                out.append(self.header(p, False))
                out += lines
                self.emit_later(p, sub, out)

    def render(self):
        """The document, all of it under the table [name] (so that
        several go to the decoder at once); a document of its own but
        for that."""
        r = self.r
        lines = []
        self.emit_later([], [("table", self.name, self.model)], lines)
        out = []
        for line in lines:
            while r.random() < 0.15:
                out.append(r.choice(["", self.ws(),
                                     self.ws() + self.comment()]))
            out.append(line)
        text = "".join(line + self.newline() for line in out)
        if r.random() < 0.2:
            text = text.rstrip("\r\n")
        return text


def literal_ok(s):
    return "'" not in s and not any(
        (c < " " and c != "\t") or c == "\x7f" for c in s)


def ml_literal_ok(s):
    return "'''" not in s and not s.endswith("'''") and not any(
        (c < " " and c not in "\t\n") or c == "\x7f" for c in s)


def is_aot(v):
    return isinstance(v, list) and v and all(isinstance(x, dict) for x in v)


# --- the checks --------------------------------------------------------------

class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self.lines = []

    def ok(self, good, what, diags=()):
        self.n += 1
        if not good:
            self.failed += 1
        self.lines.append("%s %d - %s" % ("ok" if good else "not ok",
                                          self.n, what))
        diags = list(diags)
        for d in diags[:MAX_DIAG]:
            self.lines.append("#   " + d.replace("\n", "\\n"))
        if len(diags) > MAX_DIAG:
            self.lines.append("#   ... and %d more" % (len(diags) - MAX_DIAG))

    def print(self):
        print("1..%d" % self.n)
        for line in self.lines:
            print(line)


HEADER = re.compile(r"^([ \t]*\[\[?[ \t]*)", re.M)


def wrap(doc, name):
    """doc as the table [name] of a larger document, its [headers] moved
    under name too, if that leaves it the same to tomllib; else None."""
    ref = reference(doc)
    if ref is None:
        return None
    text = as_bytes(doc).decode("utf-8")
    text = "[%s]\n%s\n" % (name, HEADER.sub(r"\g<1>%s." % name, text))
    wrapped = reference(text)
    if wrapped is None or norm_py(wrapped) != norm_py({name: ref}):
        return None
    return text


class Runner:
    """The decoder on many documents at once, a process each."""

    def __init__(self, decoder):
        self.decoder = decoder
        self.results = {}
        self.workers = max(2, os.cpu_count() or 2)

    def run(self, docs):
        docs = [d for d in dict.fromkeys(docs) if d not in self.results]
        with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
            for d, res in zip(docs, pool.map(
                    lambda d: decode(self.decoder, d), docs)):
                self.results[d] = res

    def __getitem__(self, doc):
        return self.results[doc]


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    run = Runner(sys.argv[1])
    tap = Tap()

    # A decoder run costs some 50 ms in a sanitizer build, most of it
    # starting up: so the valid documents go BATCH to a run, each under
    # a table of its own (wrap()) where tomllib says that changes
    # nothing; a batch that fails is run again one document at a time,
    # to name the culprit.  Those of the STANDALONE groups that do not
    # end in a newline (the end of the input is what they test) and the
    # invalid ones (the first error ends a run) go alone.
    batch_of, single = {}, []
    batches = []
    for group, cases in VALID.items():
        for doc in cases:
            text = None
            if group not in STANDALONE or as_bytes(doc).endswith(b"\n"):
                text = wrap(doc, "case_%d" % len(batch_of))
            if text is None:
                single.append(doc)
                continue
            if not batches or len(batches[-1]) == BATCH:
                batches.append([])
            batches[-1].append((doc, text))
            batch_of[doc] = len(batches) - 1
    batch_text = ["".join(t for _, t in b) for b in batches]

    rnd = random.Random(RANDOM_SEED)
    randoms = [RandomDoc(rnd, "r%d" % i) for i in range(RANDOM_DOCS)]
    random_batches = [randoms[i:i + RANDOM_BATCH]
                      for i in range(0, len(randoms), RANDOM_BATCH)]
    random_text = ["".join(rd.text + "\n" for rd in b)
                   for b in random_batches]

    docs = single + batch_text + random_text
    docs += [d for cases in INVALID.values() for d in cases]
    docs += [d for d, _ in SPEC] + [d for d, _, _ in POSITIONS]
    run.run(docs)
    failed_batches = set()
    for i, b in enumerate(batches):
        ref = reference(batch_text[i])
        if ref is None or check_decoded(run[batch_text[i]], norm_py(ref)):
            failed_batches.add(i)
            run.run([doc for doc, _ in b])
    nruns = len(run.results)

    for group, cases in VALID.items():
        bad = []
        for doc in cases:
            ref = reference(doc)
            if ref is None:
                bad.append("%s: tomllib refuses it (the case is wrong)"
                           % short(doc))
                continue
            if batch_of.get(doc, -1) in failed_batches or doc in single:
                why = check_decoded(run[doc], norm_py(ref))
                if why:
                    bad.append("%s: %s" % (short(doc), why))
        tap.ok(not bad, "valid %s: %d documents decode as tomllib reads "
               "them" % (group, len(cases)), bad)
    bad = []
    for i in sorted(failed_batches):
        if not any(check_decoded(run[doc], norm_py(reference(doc)))
                   for doc, _ in batches[i]):
            bad.append("batch %d fails, each of its documents alone "
                       "does not: %s" % (i, short(batch_text[i], 300)))
    tap.ok(not bad, "%d batches of valid documents (each under a table "
           "of its own, %d to a decoder run) decode as tomllib reads them"
           % (len(batches), BATCH), bad)

    for group, cases in INVALID.items():
        bad = []
        for doc in cases:
            if reference(doc) is not None:
                bad.append("%s: tomllib accepts it (the case is wrong)"
                           % short(doc))
                continue
            why = check_refused(run[doc])
            if why:
                bad.append("%s: %s" % (short(doc), why))
        tap.ok(not bad, "invalid %s: %d documents refused with a line and "
               "a column" % (group, len(cases)), bad)

    bad = []
    for doc, want in SPEC:
        if want is None:
            why = check_refused(run[doc])
        else:
            why = check_decoded(run[doc], norm_tagged(want))
        if why:
            bad.append("%s: %s" % (short(doc), why))
    tap.ok(not bad, "%d documents where TOML 1.0.0 and tomllib differ go "
           "the spec's way (BOM, 64-bit integers, leap seconds, float "
           "range)" % len(SPEC), bad)

    bad = []
    for doc, line, col in POSITIONS:
        rc, _, err = run[doc]
        err = err.decode("utf-8", "replace")
        m = ERR_RE.match(err)
        got = (int(m.group(1)), int(m.group(2))) if m else None
        if rc != 1 or got != (line, col):
            bad.append("%s: %s, want line %d, column %d" % (
                short(doc), short(err.strip()), line, col))
    tap.ok(not bad, "%d errors name the right line and column"
           % len(POSITIONS), bad)

    bad_model, bad = [], []
    for b, text in zip(random_batches, random_text):
        for rd in b:
            ref = reference(rd.text)
            if ref is None or unordered(norm_py(ref)) != \
                    unordered(norm_py({rd.name: rd.model})):
                bad_model.append("random document %s: tomllib reads %s, "
                                 "not the model: %s" % (
                                     rd.name, "nothing" if ref is None else
                                     "another value", short(rd.text, 300)))
        ref = reference(text)
        why = "tomllib refuses the batch" if ref is None else \
            check_decoded(run[text], norm_py(ref))
        if why:
            bad.append("random documents %s to %s: %s" % (
                b[0].name, b[-1].name, why))
    tap.ok(not bad_model, "%d random documents (seed %d) are valid TOML "
           "that tomllib reads as generated" % (len(randoms), RANDOM_SEED),
           bad_model)
    tap.ok(not bad, "%d random documents decode as tomllib reads them "
           "(%d to a decoder run, each under a table of its own)"
           % (len(randoms), RANDOM_BATCH), bad)

    tap.print()
    print("# %d decoder runs" % nruns)
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
