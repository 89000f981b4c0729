"""The commented starter policy written by ``mlchain policy init`` (must itself be valid)."""

from __future__ import annotations

STARTER_POLICY = """\
# mlchain model policy: decides whether a model may be deployed.
# Check saved results:  mlchain policy check --policy mlchain-policy.yaml \\
#                         --verification verify.json --scan scan.json
# Deploy gate:          mlchain verify MODEL --policy mlchain-policy.yaml
# Reference: docs/policy.md. Unknown fields are errors, so typos cannot weaken a policy.
apiVersion: mlchain.dev/v1alpha1
kind: ModelPolicy
metadata:
  name: starter-policy
  description: Models signed by our release workflow, with no high or critical findings.
spec:
  # Who may sign the model. At least one authority must match the verified signature.
  authorities:
    # Keyless (Sigstore) signatures from a GitHub Actions workflow. Replace OWNER/REPO.
    - name: release-workflow
      keyless:
        issuer: https://token.actions.githubusercontent.com
        # subjectRegExp must match the WHOLE subject (the workflow identity).
        subjectRegExp: '^https://github\\.com/OWNER/REPO/\\.github/workflows/release\\.ya?ml@refs/tags/v.+$'
    # A public key (PEM). Paths are relative to this file.
    # - name: ops-key
    #   key:
    #     path: keys/ops.pub
    # An internal PKI: the signing certificate must chain to these certificates.
    # - name: internal-pki
    #   certificateChain:
    #     path: pki/chain.pem

  # Attestations that must be present and signed by one of the authorities above.
  # attestations:
  #   - type: provenance            # predicateType defaults to https://slsa.dev/provenance/v1
  #   - type: sbom                  # predicateType defaults to https://cyclonedx.org/bom

  # What the scan may find. The policy, not a file beside the model, decides what is tolerated.
  scan:
    failOn: high                    # critical | high | medium | low | info | never
    allowGlobals: []                # pickle globals to tolerate, e.g. collections.OrderedDict
    strict: false                   # true: deny when a file could not be scanned

  # CEL expressions that must all be true. Inputs: scan, signature, provenance, sbom, model.
  # An expression that reads an input that was not provided denies.
  validations:
    - name: nothing-unsigned
      expression: 'signature.ignored.all(p, !matches_glob(p, "**/*.py"))'
      message: Python files were excluded from the signature; sign them too.
"""
