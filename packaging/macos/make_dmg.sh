#!/usr/bin/env bash
# Signs dist/Parley.app (ad hoc unless CODESIGN_IDENTITY is set) with the
# hardened runtime and the audio-input entitlement, checks that the entitlement
# and NSMicrophoneUsageDescription survived, and makes dist/Parley-VERSION.dmg.
# Usage: packaging/macos/make_dmg.sh [VERSION] [APP]
# Runs on macOS only (codesign, hdiutil); the release workflow calls it. Not
# run on the Linux machine where it was written.
set -euo pipefail
VERSION="${1:-0.1.0}"
APP="${2:-dist/Parley.app}"
HERE="$(cd "$(dirname "$0")" && pwd)"
IDENTITY="${CODESIGN_IDENTITY:--}"
OUT="dist/Parley-${VERSION}-macos-$(uname -m).dmg"

[ -d "$APP" ] || { echo "make_dmg.sh: no $APP; run make package first" >&2; exit 1; }

# Sign inside out: every library, then the app, with the entitlements.
codesign --force --deep --options runtime --timestamp=none \
    --entitlements "$HERE/entitlements.plist" --sign "$IDENTITY" "$APP"
codesign --verify --deep --strict "$APP"
codesign -d --entitlements - "$APP" 2>/dev/null | grep -q "com.apple.security.device.audio-input" \
    || { echo "make_dmg.sh: the audio-input entitlement is missing after signing" >&2; exit 1; }
/usr/libexec/PlistBuddy -c "Print :NSMicrophoneUsageDescription" "$APP/Contents/Info.plist" >/dev/null \
    || { echo "make_dmg.sh: Info.plist has no NSMicrophoneUsageDescription" >&2; exit 1; }

STAGE="$(mktemp -d)"
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
rm -f "$OUT"
hdiutil create -volname "Parley" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$OUT"
rm -rf "$STAGE"
echo "$OUT: $(du -h "$OUT" | cut -f1)"
