// Inventory writes: UpdateChain, a stored version's chain and findings looked at again (the
// import service's pass over incomplete chains once a CA certificate arrived).
#include "base/error.h"
#include "base/error_codes.h"
#include "base/time.h"
#include "storage/inventory_impl.h"
#include "storage/summary.h"

namespace certinbox::storage {

base::Result<std::optional<Event>> Inventory::Impl::UpdateChain(
    int64_t version_id, const std::vector<std::string>& chain,
    const std::vector<std::string>& findings, base::UnixTime now) {
  if (auto ok = CheckBatch(); !ok) return std::unexpected(ok.error());
  auto tx = sqlite::Transaction::Start(db_);
  if (!tx) return std::unexpected(tx.error());
  int64_t entry_id = 0;
  nlohmann::json old_chain, old_findings;
  std::vector<std::string> new_findings;
  {
    auto st = db_.Prepare(
        "SELECT v.entry_id, v.chain, v.findings, v.key_id IS NOT NULL, e.kind = 'leaf'"
        " FROM versions v JOIN entries e ON e.id = v.entry_id WHERE v.id = ?1");
    if (!st) return std::unexpected(st.error());
    st->Bind(1, version_id);
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) {
      return base::Fail(base::code::kNotFound,
                        "no certificate version has id " + std::to_string(version_id));
    }
    entry_id = st->Int(0);
    old_chain = ParseJsonOr(st->Text(1), nlohmann::json::array());
    old_findings = ParseJsonOr(st->Text(2), nlohmann::json::array());
    new_findings = NormalizeFindings(findings, st->Int(4) != 0, st->Int(3) != 0);
  }
  std::vector<std::string> changed;
  if (old_chain != nlohmann::json(chain)) changed.emplace_back("chain");
  if (old_findings != nlohmann::json(new_findings)) changed.emplace_back("findings");
  if (changed.empty()) return std::optional<Event>();  // tx rolls back: nothing was written

  auto update = db_.Prepare("UPDATE versions SET chain = ?1, findings = ?2 WHERE id = ?3");
  if (!update) return std::unexpected(update.error());
  update->Bind(1, DumpJson(chain)).Bind(2, DumpJson(new_findings)).Bind(3, version_id);
  if (auto done = update->Run(); !done) return std::unexpected(done.error());
  auto event = EntryUpdated(entry_id, changed, now);
  if (!event) return std::unexpected(event.error());
  if (auto done = tx->Commit(); !done) return std::unexpected(done.error());
  return std::optional<Event>(std::move(*event));
}

}  // namespace certinbox::storage
