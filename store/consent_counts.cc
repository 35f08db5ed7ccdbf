#include "store/consent_counts.h"

#include <string>

#include "store/sqlite_db.h"
#include "store/sqlite_transaction.h"

namespace consentd::store {

Result<std::map<std::string, std::int64_t>> CountConsents(Transaction& txn, std::string_view topic,
                                                          std::string_view channel) {
  Result<Db*> db = SqliteDbOf(txn, "consent counts");
  if (!db.ok()) return db.status();
  // The pseudo-system "email" links addresses too; any link makes a
  // subject known. Erased subjects keep no links, but the marker is
  // checked as well.
  Result<Stmt*> st = (*db)->Prepare(R"sql(
WITH known AS (
  SELECT DISTINCT subject_id FROM identity_links
  WHERE subject_id NOT IN (SELECT subject_id FROM erased_subjects)
),
blocked AS (
  SELECT DISTINCT subject_id FROM blocks
  WHERE active = 1 AND (scope = 'all' OR scope = ?1 OR scope = ?2
                        OR (?3 = 'email' AND scope LIKE 'address:%'))
)
SELECT CASE WHEN b.subject_id IS NOT NULL THEN 'blocked'
            WHEN c.status = 'granted'
                 AND coalesce(json_extract(c.state_json, '$.reconsent_notice'), '') != ''
              THEN 'reconsent_required'
            ELSE coalesce(c.status, 'not_asked') END AS bucket,
       count(*)
FROM known k
LEFT JOIN blocked b ON b.subject_id = k.subject_id
LEFT JOIN consent_state c
  ON c.subject_id = k.subject_id AND c.topic = ?4 AND c.channel = ?3 AND c.address = ''
GROUP BY bucket
)sql");
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  q.Bind(1, "channel:" + std::string(channel));
  q.Bind(2, "topic:" + std::string(topic));
  q.Bind(3, channel);
  q.Bind(4, topic);
  std::map<std::string, std::int64_t> out;
  for (;;) {
    Result<bool> row = q.Step();
    if (!row.ok()) {
      q.Reset();
      return row.status();
    }
    if (!*row) break;
    out[q.Text(0)] += q.Int(1);
  }
  q.Reset();
  return out;
}

}  // namespace consentd::store
