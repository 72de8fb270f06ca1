/* Stable journald MESSAGE_IDs, one per kind of event.  Never change an ID
 * once released: operators search for them (journalctl MESSAGE_ID=...) and
 * systemd/momentum-maintd.catalog explains each one. */
#ifndef MOMENTUM_MSGID_H
#define MOMENTUM_MSGID_H

#define MSGID_STARTED             "bed89004d87146129638b53b015b2207"
#define MSGID_STOPPED             "ac20422a144a44d29b969df2cf421426"
#define MSGID_CONFIG_INVALID      "318a24ab7b56448ea202257c9f5a82c7"
#define MSGID_DB_CONNECTED        "2407efcb120340a49628d564b3818358"
#define MSGID_DB_UNAVAILABLE      "8b8d894d32d147fcb1940e85e75e4ace"
#define MSGID_DB_LOST             "030da2f594ce4ed891297ee936ec5e64"
#define MSGID_MIGRATION_LOCK_WAIT "2b4fe7c0c8c84f4c9e3e6702cfe85719"
#define MSGID_MIGRATION_APPLIED   "4d91fac3e57b49f39b62b0eb147faaf1"
#define MSGID_MIGRATION_FAILED    "769326f3e59643878ee25083058fa7fc"
#define MSGID_MIGRATION_CHECKSUM  "1f2b327ef9cc4c07a24eac771a88838d"
#define MSGID_MIGRATIONS_DONE     "087747ca08234780adc5e47ecb0c10d2"
#define MSGID_COMPAT_APPLIED      "93744887848a4c79ba2660311af9c48d"
#define MSGID_MIGRATION_ORDER     "f2663316e6fe4ac981ad1e6f9e127a43"
#define MSGID_MIGRATION_UNSAFE    "e8f1a7c2f15c4a9cb2594b3505d067e8"
#define MSGID_MIGRATION_LOCK_TIMEOUT "3b06753990884ec782f00f06106ee488"
#define MSGID_JOB_FINISHED        "e554d8042b584c648d614cc4de53b001"
#define MSGID_VERIFY_FINDING      "5ac9bd389fff40fabf1d8c147ecb3171"
#define MSGID_VERIFY_RESOLVED     "d08450aa690c4e7d9921c9845f1b4616"
/* Retired: MSGID_POSTCHECK, the RLS-only post-migration check, replaced by
 * the verification pass (MSGID_VERIFY_FINDING); its ID (git log -S
 * MSGID_POSTCHECK) is not to be reused. */

#endif
