// The credentials that config/examples/ name by bare name (as systemd
// LoadCredential= provides them), written into a test's credentials
// directory so that the examples load as an operator would load them.
#pragma once

#include "tests/config/temp_dir.h"

namespace consentd::config::testing {

inline void WriteExampleCredentials(const TempDir& creds) {
  for (const char* name :
       {"admin_token", "hubspot_token", "hubspot_client_secret", "mailchimp_api_key",
        "mailchimp_webhook_secret", "generic_crm_password", "bsi_crm_token", "journey_api_key"}) {
    creds.Write(name, "not-a-real-secret");
  }
  // Standard Webhooks secrets are checked for their form ("whsec_" + base64).
  for (const char* name :
       {"generic_crm_webhook_secret", "bsi_crm_webhook_secret", "bsi_studio_request_secret",
        "bsi_studio_webhook_secret", "journey_webhook_secret", "export_delivery_secret"}) {
    creds.Write(name, "whsec_bm90LWEtcmVhbC1zZWNyZXQ=");
  }
}

}  // namespace consentd::config::testing
