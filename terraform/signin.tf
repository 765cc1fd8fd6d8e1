# The web page's hosted sign-in (optional: var.web_signin): a Cognito hosted UI domain and a
# public app client on the user pool people sign in with. Authorization code flow only, no
# client secret (the page is public code): the page sends an S256 PKCE challenge with every
# request, so a code is redeemable only with the verifier that tab holds. The callback is the
# page's address, the ingest URL by its DNS name (the web origins: the load balancer's own
# name does not match its certificate), so this client does not depend on the compute module.
locals {
  signin_enabled = var.web_signin != null
  cognito_issuer = local.signin_enabled ? "https://cognito-idp.${var.region}.amazonaws.com/${var.web_signin.user_pool_id}" : ""
  signin_urls    = [for origin in var.web_origins : "${trimsuffix(origin, "/")}/"]
  signin_url     = local.signin_enabled ? "https://${aws_cognito_user_pool_domain.web[0].domain}.auth.${var.region}.amazoncognito.com" : ""

  # What ingest checks tokens with: the pool's keys, issuer and the web client as audience
  # (the page sends the ID token, whose `aud` is the client id), else var.ingest_auth.
  ingest_auth_environment = merge(
    var.ingest_auth == null ? {} : {
      OMNIGEN_AUTH_JWKS_URL = var.ingest_auth.jwks_url
      OMNIGEN_AUTH_ISSUER   = var.ingest_auth.issuer
      OMNIGEN_AUTH_AUDIENCE = var.ingest_auth.audience
    },
    local.signin_enabled ? {
      OMNIGEN_AUTH_JWKS_URL   = "${local.cognito_issuer}/.well-known/jwks.json"
      OMNIGEN_AUTH_ISSUER     = local.cognito_issuer
      OMNIGEN_AUTH_AUDIENCE   = aws_cognito_user_pool_client.web[0].id
      OMNIGEN_AUTH_SIGNIN_URL = local.signin_url
      OMNIGEN_AUTH_CLIENT_ID  = aws_cognito_user_pool_client.web[0].id
    } : {},
  )
}

resource "aws_cognito_user_pool_domain" "web" {
  count        = local.signin_enabled ? 1 : 0
  domain       = var.web_signin.domain_prefix
  user_pool_id = var.web_signin.user_pool_id
}

resource "aws_cognito_user_pool_client" "web" {
  count        = local.signin_enabled ? 1 : 0
  name         = "${var.name_prefix}-web"
  user_pool_id = var.web_signin.user_pool_id

  generate_secret                      = false
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid"]
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = local.signin_urls
  logout_urls                          = local.signin_urls
  explicit_auth_flows                  = ["ALLOW_REFRESH_TOKEN_AUTH"] # the hosted UI only
  prevent_user_existence_errors        = "ENABLED"
  enable_token_revocation              = true

  # The page keeps tokens in memory and signs in again (silently, with the hosted UI's
  # session cookie) on a reload or when the ID token ends.
  id_token_validity      = 60
  access_token_validity  = 60
  refresh_token_validity = 1
  token_validity_units {
    id_token      = "minutes"
    access_token  = "minutes"
    refresh_token = "days"
  }

  lifecycle {
    precondition {
      condition     = length(var.web_origins) > 0
      error_message = "web_signin needs web_origins: the page's https origin is the client's callback URL."
    }
  }
}
