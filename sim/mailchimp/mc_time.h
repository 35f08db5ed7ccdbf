// Time formats of the Mailchimp Marketing API (ISO 8601 in JSON,
// "YYYY-MM-DD HH:MM:SS" in webhook fired_at). One implementation, shared
// with the connector: connectors/mailchimp/wire_format.h.
#pragma once

#include "connectors/mailchimp/wire_format.h"

namespace consentd::sim::mailchimp {

using connectors::mailchimp::FormatFiredAt;
using connectors::mailchimp::FormatIso;
using connectors::mailchimp::ParseDateTime;

}  // namespace consentd::sim::mailchimp
