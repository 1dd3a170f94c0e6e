// Carrier for the shared precompiled torch header.
