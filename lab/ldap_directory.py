"""The lab's LDAP directory: Debian's slapd with a tree of users and groups that a
Harbor in LDAP auth mode signs in against, for the unit tests (a slapd of their own
on loopback) and the lab (slapd on a lab host).

    slapd_config(directory, root_password)   # slapd.conf text, data under directory
    ENTRIES                                  # the tree, added over LDAP once slapd runs

Groups are ``groupOfNames``; slapd's memberof overlay gives each user the
``memberOf`` attribute Harbor reads by default (``ldap_group_membership_attribute``)
as entries are added over LDAP (slapadd would bypass it). Passwords are the lab's,
plain text: never a production directory.
"""

SUFFIX = "dc=harbor,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
# The account Harbor searches with (ldap_search_dn) and its password.
SEARCH_DN = f"cn=harbor,ou=services,{SUFFIX}"
SEARCH_PASSWORD = "Search-Lab-1"
# Users (uid -> password, mail) and groups (cn -> members' uids).
USERS = {
    "ldapalice": ("Alice-Lab-1", "ldapalice@harbor.test"),
    "ldapbob": ("Bob-Lab-1", "ldapbob@harbor.test"),
    "ldapcarol": ("Carol-Lab-1", "ldapcarol@harbor.test"),
}
GROUP_MEMBERS = {"developers": ("ldapalice", "ldapbob"), "harbor-admins": ("ldapcarol",)}
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")


def user_dn(uid):
    return f"uid={uid},{PEOPLE}"


def group_dn(cn):
    return f"cn={cn},{GROUPS}"


def slapd_config(directory, root_password):
    """slapd.conf of one mdb database under ``directory`` with the memberof overlay."""
    schemas = "".join(f"include /etc/ldap/schema/{name}.schema\n" for name in SCHEMAS)
    return (
        f"{schemas}"
        "modulepath /usr/lib/ldap\n"
        "moduleload back_mdb\n"
        "moduleload memberof\n"
        f"pidfile {directory}/slapd.pid\n"
        f"argsfile {directory}/slapd.args\n"
        "database mdb\n"
        f'suffix "{SUFFIX}"\n'
        f'rootdn "{ROOT_DN}"\n'
        f"rootpw {root_password}\n"
        f"directory {directory}/data\n"
        "maxsize 10485760\n"
        "overlay memberof\n"
    )


def entries():
    """``(dn, object classes, attributes)`` of the tree, parents first."""
    tree = [
        (SUFFIX, ["dcObject", "organization"], {"dc": "harbor", "o": "Harbor lab"}),
        (PEOPLE, ["organizationalUnit"], {"ou": "people"}),
        (GROUPS, ["organizationalUnit"], {"ou": "groups"}),
        (f"ou=services,{SUFFIX}", ["organizationalUnit"], {"ou": "services"}),
        (
            SEARCH_DN,
            ["person", "simpleSecurityObject"],
            {"cn": "harbor", "sn": "harbor", "userPassword": SEARCH_PASSWORD},
        ),
    ]
    for uid, (password, mail) in USERS.items():
        tree.append(
            (
                user_dn(uid),
                ["inetOrgPerson"],
                {"uid": uid, "cn": uid.capitalize(), "sn": uid, "mail": mail, "userPassword": password},
            )
        )
    for cn, members in GROUP_MEMBERS.items():
        tree.append((group_dn(cn), ["groupOfNames"], {"cn": cn, "member": [user_dn(uid) for uid in members]}))
    return tree
