// Mailchimp's subscriber hash (MD5 of the lower-cased address). One
// implementation, shared with the connector: connectors/mailchimp/wire_format.h.
#pragma once

#include "connectors/mailchimp/wire_format.h"

namespace consentd::sim::mailchimp {

using connectors::mailchimp::LowerAscii;
using connectors::mailchimp::Md5Hex;
using connectors::mailchimp::SubscriberHash;

}  // namespace consentd::sim::mailchimp
