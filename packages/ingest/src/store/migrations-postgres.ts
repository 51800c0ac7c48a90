// Versioned schema of the PostgreSQL store. Migration N (1-based) is POSTGRES_MIGRATIONS[N - 1];
// applied versions are recorded in `schema_migrations`. Append only: never edit a migration that
// has shipped. migrate() runs pending ones in one transaction under an advisory lock.
//
// Times are epoch ms (bigint, parsed to JS numbers by the store). Keys compared by the keyset
// pagination use COLLATE "C": byte order, the same as SQLite, and cheaper than a locale's.
// `signals` has no foreign key to `producers`: removing a producer keeps its signals.

export const POSTGRES_MIGRATIONS: readonly string[] = Object.freeze([
  // 1: producers, secrets, signals, idempotency records, seen signatures, operator tokens, and the
  //    group-commit function.
  `
  CREATE TABLE producers (
    id          text COLLATE "C" NOT NULL PRIMARY KEY,
    approval    text   NOT NULL CHECK (approval IN ('auto', 'manual')),
    instruments text[],  -- NULL = any instrument
    created_at  bigint NOT NULL
  );

  CREATE TABLE producer_secrets (
    producer_id text COLLATE "C" NOT NULL REFERENCES producers (id) ON DELETE CASCADE,
    id          text COLLATE "C" NOT NULL,
    ciphertext  text   NOT NULL, -- SecretBox.seal output, never the raw secret
    created_at  bigint NOT NULL,
    retired_at  bigint,
    PRIMARY KEY (producer_id, id)
  );

  CREATE TABLE signals (
    id              text COLLATE "C" NOT NULL PRIMARY KEY,
    producer_id     text COLLATE "C" NOT NULL,
    idempotency_key text,
    instrument      text COLLATE "C" NOT NULL,
    side            text   NOT NULL CHECK (side IN ('buy', 'sell')),
    status          text   NOT NULL CHECK (status IN ('received', 'pending_approval', 'approved', 'rejected')),
    message         text,
    body            text   NOT NULL,
    received_at     bigint NOT NULL,
    decided_at      bigint,
    decided_by      text
  );
  -- Keyset pagination reads newest first by (received_at, id), optionally narrowed by one filter.
  CREATE INDEX signals_by_time ON signals (received_at, id);
  CREATE INDEX signals_by_status ON signals (status, received_at, id);
  CREATE INDEX signals_by_producer ON signals (producer_id, received_at, id);
  CREATE INDEX signals_by_instrument ON signals (instrument, received_at, id);

  -- The primary key is what makes two servers sharing this database store one signal for two
  -- concurrent requests with the same key: the second INSERT waits for the first transaction.
  CREATE TABLE idempotency_keys (
    producer_id     text COLLATE "C" NOT NULL,
    idempotency_key text COLLATE "C" NOT NULL,
    request_hash    text    NOT NULL,
    response_status integer NOT NULL,
    response_body   text    NOT NULL,
    signal_id       text    NOT NULL,
    created_at      bigint  NOT NULL,
    expires_at      bigint  NOT NULL,
    PRIMARY KEY (producer_id, idempotency_key)
  );
  CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);

  CREATE TABLE seen_signatures (
    signature   text COLLATE "C" NOT NULL PRIMARY KEY,
    producer_id text   NOT NULL,
    seen_at     bigint NOT NULL,
    expires_at  bigint NOT NULL
  );
  CREATE INDEX seen_signatures_by_expiry ON seen_signatures (expires_at);

  CREATE TABLE operator_tokens (
    id         text COLLATE "C" NOT NULL PRIMARY KEY,
    name       text   NOT NULL,
    hash       text   NOT NULL UNIQUE, -- hex SHA-256 of the token, never the token
    created_at bigint NOT NULL
  );

  -- Group commit in one round trip: decides every request of a batch in order, inside the caller's
  -- single statement (so one transaction). Per request: claim the idempotency key (a live record
  -- means 'duplicate'), claim the signature (a live one means 'replayed-signature'; the key claim
  -- is then deleted: this transaction wrote it, and any row it replaced had expired), then insert
  -- the signal. ON CONFLICT never raises, so a conflict cannot abort the batch; an expired row is
  -- overwritten by DO UPDATE ... WHERE expires_at <= now. A VOLATILE function takes a new snapshot
  -- per statement, so the SELECT after a conflict sees a row committed by a concurrent transaction.
  CREATE FUNCTION sigpost_accept_batch(batch json)
  RETURNS TABLE (out_ord integer, out_outcome text, out_request_hash text, out_response_status integer, out_response_body text)
  LANGUAGE plpgsql VOLATILE AS $fn$
  DECLARE
    r record;
  BEGIN
    FOR r IN
      SELECT t.ord::integer AS ord, x.*
      FROM json_array_elements(batch) WITH ORDINALITY AS t (item, ord)
      CROSS JOIN LATERAL json_to_record(t.item) AS x (
        id text, producer_id text, idempotency_key text, instrument text, side text, status text,
        message text, body text, received_at bigint, decided_at bigint, decided_by text,
        claim_key text, request_hash text, idempotency_expires_at bigint, signature text,
        signature_expires_at bigint, response_status integer, response_body text)
      ORDER BY t.ord
    LOOP
      out_ord := r.ord;
      out_request_hash := NULL;
      out_response_status := NULL;
      out_response_body := NULL;

      IF r.claim_key IS NOT NULL THEN
        INSERT INTO idempotency_keys AS k
          (producer_id, idempotency_key, request_hash, response_status, response_body, signal_id, created_at, expires_at)
        VALUES (r.producer_id, r.claim_key, r.request_hash, r.response_status, r.response_body, r.id,
                r.received_at, r.idempotency_expires_at)
        ON CONFLICT (producer_id, idempotency_key) DO UPDATE SET
          request_hash = EXCLUDED.request_hash, response_status = EXCLUDED.response_status,
          response_body = EXCLUDED.response_body, signal_id = EXCLUDED.signal_id,
          created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
        WHERE k.expires_at <= EXCLUDED.created_at;
        IF NOT FOUND THEN
          -- ON CONFLICT DO UPDATE locked the live row even though WHERE failed: it cannot vanish here.
          SELECT k.request_hash, k.response_status, k.response_body
            INTO out_request_hash, out_response_status, out_response_body
            FROM idempotency_keys AS k
           WHERE k.producer_id = r.producer_id AND k.idempotency_key = r.claim_key;
          out_outcome := 'duplicate';
          RETURN NEXT;
          CONTINUE;
        END IF;
      END IF;

      INSERT INTO seen_signatures AS s (signature, producer_id, seen_at, expires_at)
      VALUES (r.signature, r.producer_id, r.received_at, r.signature_expires_at)
      ON CONFLICT (signature) DO UPDATE SET
        producer_id = EXCLUDED.producer_id, seen_at = EXCLUDED.seen_at, expires_at = EXCLUDED.expires_at
      WHERE s.expires_at <= EXCLUDED.seen_at;
      IF NOT FOUND THEN
        IF r.claim_key IS NOT NULL THEN
          DELETE FROM idempotency_keys AS k WHERE k.producer_id = r.producer_id AND k.idempotency_key = r.claim_key;
        END IF;
        out_outcome := 'replayed-signature';
        RETURN NEXT;
        CONTINUE;
      END IF;

      INSERT INTO signals
        (id, producer_id, idempotency_key, instrument, side, status, message, body, received_at, decided_at, decided_by)
      VALUES (r.id, r.producer_id, r.idempotency_key, r.instrument, r.side, r.status, r.message, r.body,
              r.received_at, r.decided_at, r.decided_by);
      out_outcome := 'stored';
      RETURN NEXT;
    END LOOP;
  END
  $fn$;
  `,
  // 2: the live stream (docs/stream.md). `stream_events`: one row per accepted signal and per
  //    decision, written in the transaction of the change. seq equals commit order, also with
  //    several servers: a sequence would not do (its values are taken before commit, so a reader
  //    could see seq 8 committed before seq 7), so seqs come from the one-row `stream_meta.head`
  //    counter, incremented by sigpost_take_seqs as the last step of each writing transaction. The
  //    UPDATE holds the row lock until COMMIT, so a second transaction taking seqs waits until the
  //    first has committed (and is visible) and then reads its new head: seq order is commit order,
  //    and a reader tailing `seq > N` never sees a smaller seq appear after a larger one. The same
  //    function queues a NOTIFY (delivered at commit, carrying "<schema>:<head>") that wakes the
  //    other servers. Signals stored before this migration get one event each, as of now.
  //    `subscribers`: stream tokens (hash only) and their scope.
  `
  CREATE TABLE stream_meta (
    id             integer NOT NULL PRIMARY KEY CHECK (id = 1),
    epoch          text    NOT NULL,
    head           bigint  NOT NULL,
    purged_through bigint  NOT NULL
  );

  CREATE TABLE stream_events (
    seq        bigint NOT NULL PRIMARY KEY,
    signal_id  text COLLATE "C" NOT NULL,
    status     text   NOT NULL CHECK (status IN ('received', 'pending_approval', 'approved', 'rejected')),
    at         bigint NOT NULL,
    message    text,
    decided_at bigint,
    decided_by text,
    channel    text   CHECK (channel IN ('api', 'cli', 'console', 'telegram'))
  );
  CREATE INDEX stream_events_by_signal ON stream_events (signal_id);
  INSERT INTO stream_events (seq, signal_id, status, at, message, decided_at, decided_by)
    SELECT row_number() OVER (ORDER BY received_at, id), id, status, coalesce(decided_at, received_at),
           message, decided_at, decided_by
    FROM signals;
  INSERT INTO stream_meta (id, epoch, head, purged_through)
    SELECT 1, replace(gen_random_uuid()::text, '-', ''), (SELECT count(*) FROM stream_events), 0;

  CREATE TABLE subscribers (
    id         text COLLATE "C" NOT NULL PRIMARY KEY,
    name       text   NOT NULL,
    hash       text   NOT NULL UNIQUE, -- hex SHA-256 of the token, never the token
    producers  text[], -- NULL = all producers
    statuses   text[], -- NULL = all statuses
    created_at bigint NOT NULL,
    revoked_at bigint
  );

  CREATE FUNCTION sigpost_take_seqs(n integer) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $take$
  DECLARE
    taken bigint;
  BEGIN
    UPDATE stream_meta SET head = head + n WHERE id = 1 RETURNING head INTO taken;
    PERFORM pg_notify('sigpost_stream', current_schema() || ':' || taken);
    RETURN taken;
  END
  $take$;

  CREATE OR REPLACE FUNCTION sigpost_accept_batch(batch json)
  RETURNS TABLE (out_ord integer, out_outcome text, out_request_hash text, out_response_status integer, out_response_body text)
  LANGUAGE plpgsql VOLATILE AS $fn$
  DECLARE
    r record;
    stored text[] := '{}';
    last_seq bigint;
  BEGIN
    FOR r IN
      SELECT t.ord::integer AS ord, x.*
      FROM json_array_elements(batch) WITH ORDINALITY AS t (item, ord)
      CROSS JOIN LATERAL json_to_record(t.item) AS x (
        id text, producer_id text, idempotency_key text, instrument text, side text, status text,
        message text, body text, received_at bigint, decided_at bigint, decided_by text,
        claim_key text, request_hash text, idempotency_expires_at bigint, signature text,
        signature_expires_at bigint, response_status integer, response_body text)
      ORDER BY t.ord
    LOOP
      out_ord := r.ord;
      out_request_hash := NULL;
      out_response_status := NULL;
      out_response_body := NULL;

      IF r.claim_key IS NOT NULL THEN
        INSERT INTO idempotency_keys AS k
          (producer_id, idempotency_key, request_hash, response_status, response_body, signal_id, created_at, expires_at)
        VALUES (r.producer_id, r.claim_key, r.request_hash, r.response_status, r.response_body, r.id,
                r.received_at, r.idempotency_expires_at)
        ON CONFLICT (producer_id, idempotency_key) DO UPDATE SET
          request_hash = EXCLUDED.request_hash, response_status = EXCLUDED.response_status,
          response_body = EXCLUDED.response_body, signal_id = EXCLUDED.signal_id,
          created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
        WHERE k.expires_at <= EXCLUDED.created_at;
        IF NOT FOUND THEN
          -- ON CONFLICT DO UPDATE locked the live row even though WHERE failed: it cannot vanish here.
          SELECT k.request_hash, k.response_status, k.response_body
            INTO out_request_hash, out_response_status, out_response_body
            FROM idempotency_keys AS k
           WHERE k.producer_id = r.producer_id AND k.idempotency_key = r.claim_key;
          out_outcome := 'duplicate';
          RETURN NEXT;
          CONTINUE;
        END IF;
      END IF;

      INSERT INTO seen_signatures AS s (signature, producer_id, seen_at, expires_at)
      VALUES (r.signature, r.producer_id, r.received_at, r.signature_expires_at)
      ON CONFLICT (signature) DO UPDATE SET
        producer_id = EXCLUDED.producer_id, seen_at = EXCLUDED.seen_at, expires_at = EXCLUDED.expires_at
      WHERE s.expires_at <= EXCLUDED.seen_at;
      IF NOT FOUND THEN
        IF r.claim_key IS NOT NULL THEN
          DELETE FROM idempotency_keys AS k WHERE k.producer_id = r.producer_id AND k.idempotency_key = r.claim_key;
        END IF;
        out_outcome := 'replayed-signature';
        RETURN NEXT;
        CONTINUE;
      END IF;

      INSERT INTO signals
        (id, producer_id, idempotency_key, instrument, side, status, message, body, received_at, decided_at, decided_by)
      VALUES (r.id, r.producer_id, r.idempotency_key, r.instrument, r.side, r.status, r.message, r.body,
              r.received_at, r.decided_at, r.decided_by);
      stored := stored || r.id;
      out_outcome := 'stored';
      RETURN NEXT;
    END LOOP;

    -- One stream event per stored signal, numbered last (see sigpost_take_seqs: the head row stays
    -- locked until this transaction commits, so it is held for as short a time as possible).
    IF cardinality(stored) > 0 THEN
      last_seq := sigpost_take_seqs(cardinality(stored));
      INSERT INTO stream_events (seq, signal_id, status, at, message, decided_at, decided_by, channel)
      SELECT last_seq - cardinality(stored) + t.ord, s.id, s.status, s.received_at, s.message, s.decided_at, s.decided_by, NULL
      FROM unnest(stored) WITH ORDINALITY AS t (id, ord) JOIN signals s ON s.id = t.id;
    END IF;
  END
  $fn$;
  `,
  // 3: the Telegram approval bot (src/telegram/). `service_leases`: which server talks to Telegram
  //    (one lease, taken over when it expires). `telegram_cursors`: the last stream event it
  //    handled and the next getUpdates offset. `telegram_messages`: one row per signal sent to the
  //    chat, claimed before sendMessage so a signal is never sent twice.
  `
  CREATE TABLE service_leases (
    name       text COLLATE "C" NOT NULL PRIMARY KEY,
    holder     text   NOT NULL,
    expires_at bigint NOT NULL
  );

  CREATE TABLE telegram_cursors (
    name  text COLLATE "C" NOT NULL PRIMARY KEY CHECK (name IN ('events', 'updates')),
    value bigint NOT NULL
  );

  CREATE TABLE telegram_messages (
    signal_id  text COLLATE "C" NOT NULL PRIMARY KEY,
    chat_id    text   NOT NULL,
    message_id bigint,
    state      text   NOT NULL CHECK (state IN ('sending', 'sent', 'failed')),
    created_at bigint NOT NULL,
    closed_at  bigint
  );
  `,
]);
