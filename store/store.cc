#include "store/store.h"

#include <memory>

namespace consentd::store {

std::future<Status> Store::Submit(Work work, SubmitOptions options) {
  auto promise = std::make_shared<std::promise<Status>>();
  std::future<Status> future = promise->get_future();
  DoSubmit(
      std::move(work), [promise](const Status& s) { promise->set_value(s); }, options);
  return future;
}

}  // namespace consentd::store
