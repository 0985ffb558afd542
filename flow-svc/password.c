/*  password - Argon2id hashing and verification. */
#include "password.h"

#include "log.h"
#include "secure.h"

#include <argon2.h>
#include <errno.h>
#include <malloc.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  RFC 9106 §3.1: a 128-bit salt is enough for all applications; a 256-bit tag.
#define SALT_BYTES 16
#define TAG_BYTES 32

//  Argon2id runs that may hold their memory at once in this process (each
//  holds m_cost_kib): the bound on flow-svc's resident memory, whatever the
//  number of worker threads or waiting logins.
static sem_t s_slots;
static int s_limited;

int
password_limit (unsigned slots)
{
    if (s_limited || slots == 0 || sem_init (&s_slots, 0, slots) != 0)
        return -1;
    //  glibc raises its mmap threshold after a large block is freed, so the
    //  next Argon2 memory would come from the thread's arena and stay
    //  resident there. A fixed threshold keeps every block of 1 MiB or more
    //  in mmap: returned to the system as soon as it is freed.
    if (mallopt (M_MMAP_THRESHOLD, 1024 * 1024) != 1)
        log_warn ("password: could not fix the mmap threshold; memory may stay resident after hashing");
    s_limited = 1;
    return 0;
}

static void
s_enter (void)
{
    if (s_limited)
        while (sem_wait (&s_slots) != 0 && errno == EINTR)
            ;
}

static void
s_leave (void)
{
    if (s_limited)
        sem_post (&s_slots);
}

char *
password_hash (const password_params_t *params, const char *pw, size_t len)
{
    if (len > PASSWORD_MAX_BYTES)
        return NULL;
    unsigned char salt[SALT_BYTES];
    if (secure_random (salt, sizeof salt) != 0)
        return NULL;
    size_t size = argon2_encodedlen (params->t_cost, params->m_cost_kib, params->parallelism, SALT_BYTES,
                                     TAG_BYTES, Argon2_id) +
                  1; //  room for the NUL whether or not the library counts it
    char *encoded = malloc (size);
    if (!encoded)
        return NULL;
    s_enter ();
    int rc = argon2id_hash_encoded (params->t_cost, params->m_cost_kib, params->parallelism, pw, len, salt,
                                    SALT_BYTES, TAG_BYTES, encoded, size);
    s_leave ();
    if (rc != ARGON2_OK) {
        log_error ("password: argon2id_hash_encoded failed: %s", argon2_error_message (rc));
        free (encoded);
        return NULL;
    }
    return encoded;
}

int
password_verify (const char *encoded, const char *pw, size_t len)
{
    if (!encoded || strncmp (encoded, "$argon2id$", 10) != 0 || len > PASSWORD_MAX_BYTES)
        return 0;
    s_enter ();
    int rc = argon2id_verify (encoded, pw, len);
    s_leave ();
    if (rc != ARGON2_OK && rc != ARGON2_VERIFY_MISMATCH)
        log_error ("password: argon2id_verify failed: %s", argon2_error_message (rc));
    return rc == ARGON2_OK;
}

int
password_needs_rehash (const char *encoded, const password_params_t *params)
{
    //  The parameter segment as password_hash writes it today; anything else
    //  (another version, another order, other costs) is rewritten.
    char want[96];
    snprintf (want, sizeof want, "$argon2id$v=%d$m=%u,t=%u,p=%u$", ARGON2_VERSION_13, params->m_cost_kib,
              params->t_cost, params->parallelism);
    return !encoded || strncmp (encoded, want, strlen (want)) != 0;
}

size_t
password_chars (const char *pw, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)pw[i] & 0xc0) != 0x80)
            n++;
    return n;
}
