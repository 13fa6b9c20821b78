"""A Chromium ``v11`` cookie whose key lives in a real Secret Service, as on a GNOME desktop.

Chrome on Linux stores a random password in the keyring (schema ``chrome_libsecret_os_crypt_password_v2``,
attribute ``application=chrome``) and encrypts cookie values with PBKDF2(password). rookiepy must fetch that
password over D-Bus and decrypt the value. scripts/test runs this inside ``dbus-run-session`` with a temporary
HOME and an unlocked gnome-keyring; elsewhere it skips, so it never touches a developer's own keyring.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.browser_profiles import CHROMIUM_GOOD, SESSION, Row, chromium_profile, good_rows
from tests.keyring import REAL_KEYRING_ONLY
from tzbackup_gui.browser_cookies import CookieState, discover_profiles, inspect_profile, take_session_cookie

pytestmark = REAL_KEYRING_ONLY

PASSWORD = b"Zk3pQ9wXr7LmT2vB8nYc4A=="  # the kind of random password Chrome keeps in the keyring


def test_v11_value_is_decrypted_with_the_key_from_the_secret_service(tmp_path: Path) -> None:
    import secretstorage

    connection = secretstorage.dbus_init()
    collection = secretstorage.get_default_collection(connection)
    item = collection.create_item(
        "Chrome Safe Storage",
        {"xdg:schema": "chrome_libsecret_os_crypt_password_v2", "application": "chrome"},
        PASSWORD,
        replace=True,
    )
    try:
        home = tmp_path / "home"
        chromium_profile(home, ".config/google-chrome", "Default", "Me", good_rows(CHROMIUM_GOOD),
                         prefix=b"v11", password=PASSWORD)
        chromium_profile(home, ".config/google-chrome", "Profile 1", "Other",
                         [Row(".shapes.inc", SESSION, CHROMIUM_GOOD, time.time() + 60)],
                         prefix=b"v11", password=b"a different machine's password")
        me, other = discover_profiles(home, platform="linux")
        assert dict(take_session_cookie(me).cookies) == {SESSION: CHROMIUM_GOOD}
        assert inspect_profile(other).state is CookieState.ENCRYPTED
    finally:
        item.delete()
        connection.close()
