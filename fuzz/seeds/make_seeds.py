#!/usr/bin/env python3
"""Writes the hand-made seed corpus of each fuzz target into fuzz/corpus/<target>/seed-*.

Run from fuzz/: python3 seeds/make_seeds.py. The seeds are RFC 7644 examples, client
shapes (Entra ID, Okta) and the hostile inputs of issue 7; the fuzzers grow the corpus from them.
"""
import json
import os

FILTERS = [
    'userName eq "bjensen"',
    'name.familyName co "O\'Malley"',
    'userName sw "J"',
    'urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"',
    'title pr',
    'meta.lastModified gt "2011-05-13T04:42:34Z"',
    'title pr and userType eq "Employee"',
    'title pr or userType eq "Intern"',
    'schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"',
    'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
    'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
    'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
    'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
    'externalId eq "x" and active eq true and meta.created ge "2020-01-01T00:00:00Z"',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "1"',
    'members[value eq "2819c223-7f76-453a-919d-413861904646"]',
    'displayName eq null or nickName ne null',
    'x eq 1.5e3 or y lt -2 or z ge 0',
    'userName eq "a\\"b\\\\c\\u00e9"',
    'userName co "%_\\\\"',
    'NOT (userName EQ "X") AND title PR',
    '(' * 40 + 'a pr' + ')' * 40,
    'a pr and ' * 30 + 'a pr',
]

PATHS = [
    'displayName', 'name.familyName', 'emails', 'emails[type eq "work"]',
    'emails[type eq "work"].value', 'members[value eq "2819c223"]', 'members',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber',
    'addresses[type eq "work" and primary eq true].streetAddress',
    'emails[value co "]"].value', 'a[b[c eq 1]]', 'emails[type eq "x"].', '  name  ',
]

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def patch(*ops):
    return {"schemas": [PATCH_OP], "Operations": list(ops)}


PATCHES = [
    patch({"op": "add", "path": "members", "value": [{"value": "2819c223-7f76-453a-919d-413861904646"}]}),
    patch({"op": "remove", "path": 'members[value eq "2819c223"]'}),
    patch({"op": "replace", "path": "members", "value": []}),
    patch({"op": "Replace", "value": {"displayName": "X", "active": "False"}}),
    patch({"op": "add", "value": {"name.givenName": "Babs", "emails[type eq \"work\"].value": "a@b.c"}}),
    patch({"op": "replace", "path": 'emails[type eq "work"].value', "value": "new@example.com"}),
    patch({"op": "add", "path": "emails", "value": [{"value": "x@y.z", "type": "home", "primary": True}]}),
    patch({"op": "remove", "path": 'emails[type eq "home"]'}),
    patch({"op": "remove", "path": "userName"}),
    patch({"op": "replace", "path": "id", "value": "other"}),
    patch({"op": "replace", "path": "externalId", "value": ""}),
    patch({"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", "value": "m1"}),
    patch({"op": "replace", "path": "active", "value": False}, {"op": "remove", "path": "nickName"}),
    patch({"op": "add", "path": 'addresses[type eq "work"].locality', "value": "Paris"}),
    patch({"op": "replace", "value": {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"costCenter": "1"}}}),
]

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
BODIES = [
    {"schemas": [USER], "userName": "bjensen@example.com", "name": {"givenName": "Barbara", "familyName": "Jensen"}},
    {"schemas": [USER, ENT], "userName": "u", "externalId": "e", "active": True,
     "emails": [{"value": "u@example.com", "type": "work", "primary": True}],
     ENT: {"employeeNumber": "1", "manager": {"value": "m"}}},
    {"schemas": [GROUP], "displayName": "Admins", "members": [{"value": "1", "type": "User"}]},
    {"schemas": [USER], "userName": "x", "password": "secret", "id": "ignored", "meta": {"version": "W/\"1\""}},
    {"schemas": [USER], "USERNAME": "dup", "userName": "dup2"},
    {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": 1, "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"schemas": [USER], "userName": "a"}},
        {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"schemas": [GROUP], "displayName": "g", "members": [{"value": "bulkId:a"}]}},
        {"method": "PATCH", "path": "/Groups/bulkId:g", "data": PATCHES[0]},
        {"method": "DELETE", "path": "/Users/bulkId:a", "version": "W/\"1\""}]},
    {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": 'userName sw "b"',
     "attributes": ["userName"], "sortBy": "name.familyName", "sortOrder": "descending", "startIndex": 1, "count": 10},
    PATCHES[3],
]
RAW_BODIES = [b'[' * 40 + b']' * 40, b'{"a":"\\ud800"}', b'{"userName": 1e999}', b'{"schemas":[],"userName":"\x00"}']


def write(target, items):
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    for i, item in enumerate(items):
        data = item if isinstance(item, bytes) else (item if isinstance(item, str) else json.dumps(item)).encode()
        with open(os.path.join(d, "seed-%02d" % i), "wb") as f:
            f.write(data)


write("filter", FILTERS)
write("patch_path", PATHS)
write("patch_apply", PATCHES)
write("body", BODIES + RAW_BODIES)
