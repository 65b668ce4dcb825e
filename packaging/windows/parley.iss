; Inno Setup script for Parley (Windows). Built by .github/workflows/release.yml:
;   iscc /DAppVersion=0.1.0 /DBundleDir=..\..\dist\parley /DOutputDir=..\..\dist packaging\windows\parley.iss
; Not built or run on the Linux machine where this was written: only the workflow
; (windows-latest) compiles it.
; Per-user install (no administrator rights), Start menu entry, uninstaller.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef BundleDir
  #define BundleDir "..\..\dist\parley"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif
#ifndef Flavour
  #define Flavour ""
#endif

[Setup]
AppId={{6B0E3F5C-2C1D-4E8A-9A57-5B1F0C8D7A21}
AppName=Parley
AppVersion={#AppVersion}
AppPublisher=Parley developers
DefaultDirName={localappdata}\Programs\Parley
DefaultGroupName=Parley
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=parley{#Flavour}-{#AppVersion}-windows-x64-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\parley.exe
UninstallDisplayName=Parley

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Parley"; Filename: "{app}\parley.exe"; Parameters: "gui"; Comment: "Private voice assistant"
Name: "{group}\Uninstall Parley"; Filename: "{uninstallexe}"
Name: "{userdesktop}\Parley"; Filename: "{app}\parley.exe"; Parameters: "gui"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Run]
Filename: "{app}\parley.exe"; Parameters: "gui"; Description: "Start Parley"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Only the program folder. Settings, history and downloaded models in the
; user's folders are kept.
Type: filesandordirs; Name: "{app}\_internal"
