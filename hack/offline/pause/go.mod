// The pod sandbox ("pause") program for the offline kind node image.
module github.com/gokv-service/gokv/hack/offline/pause

go 1.24
